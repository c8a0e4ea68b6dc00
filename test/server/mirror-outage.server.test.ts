import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createDb } from '../../src/db/client';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded-postgres';
import { migrate } from '../../src/db/migrator';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { DAG_WORKFLOW_TYPE, stateQuery } from '../../src/contracts/dag-workflow';
import { startHarness, type Harness } from './harness';

// A Postgres of its own: this suite stops it in the middle of a run.
let pg: EmbeddedPostgresHandle | undefined;
let h: Harness | undefined;
beforeAll(async () => {
  if (process.env.DATABASE_URL) return; // an external database cannot be stopped from here
  pg = await startEmbeddedPostgres();
  await migrate(pg.url);
  const db = createDb(pg.url);
  h = await startHarness('mirror outage server tests', { database: { url: pg.url, db, drop: async () => db.$disconnect() } });
});
afterAll(async () => {
  await h?.close();
  await h?.database.drop();
  await pg?.stop();
});

describe('the mirror when Postgres goes away mid-run', () => {
  it('lets the DAG run on and converges once Postgres is back, losing nothing', async (ctx) => {
    if (!h || !pg) return ctx.skip();
    const definition: WorkflowDefinition = {
      name: 'outage',
      nodes: [
        { id: 'a', type: 'probe', config: { sleepMs: 500 } },
        { id: 'b', type: 'probe', config: { sleepMs: 500 } },
        { id: 'c', type: 'transform', config: { expression: '"done"' } },
      ],
      edges: [
        { from: 'a', to: 'b' },
        { from: 'b', to: 'c' },
      ],
    };
    await h.store('wf_outage', definition);
    const handle = await h.server.env.client.workflow.start(DAG_WORKFLOW_TYPE, {
      taskQueue: h.taskQueue,
      workflowId: `outage-${randomUUID()}`,
      args: [{ workflowId: 'wf_outage', input: {} }],
    });
    for (let i = 0; i < 100 && !(await h.database.db.execution.findUnique({ where: { id: handle.workflowId } })); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await pg.pause();
    // The DAG itself does not wait on the mirror: every node finishes while Postgres is down.
    for (let i = 0; i < 100; i++) {
      const state = await handle.query(stateQuery);
      if (state.nodes.c!.status === 'SUCCEEDED') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await handle.query(stateQuery)).nodes.c!.status).toBe('SUCCEEDED');
    await pg.resume();
    const { result } = await h.outcome(handle, 'mirror-outage');
    expect(result?.status).toBe('SUCCEEDED');
    const row = await h.database.db.execution.findUniqueOrThrow({ where: { id: handle.workflowId }, include: { nodeRuns: true } });
    expect(row.status).toBe('SUCCEEDED');
    expect(row.nodeRuns.map((n) => [n.nodeId, n.status]).sort()).toEqual([
      ['a', 'SUCCEEDED'],
      ['b', 'SUCCEEDED'],
      ['c', 'SUCCEEDED'],
    ]);
  }, 120_000);
});
