import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createDb } from '../../src/db/client';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded-postgres';
import { migrate } from '../../src/db/migrator';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { DAG_WORKFLOW_TYPE, stateQuery, type DagRunResult } from '../../src/contracts/dag-workflow';
import type { dagWorkflow } from '../../src/workflows';
import { startHarness, type Harness } from '../server/harness';
import { sleep, waitFor } from '../support/fault-process';
import { mirrorMismatches } from '../support/mirror-check';

/*
 * Five 10-node runs in flight while their Postgres (the status mirror and the definition store)
 * is stopped for 3 s, twice, and started again on the same data. Asserted: every run completes
 * SUCCEEDED, and the mirror converges to exactly the workflow's `state` query (run status, and
 * per node status, attempt, output, error, times): no transition lost, none applied out of order.
 */
const RUNS = 5;
const OUTAGE_MS = 3_000;

let pg: EmbeddedPostgresHandle | undefined;
let h: Harness | undefined;
let paused = false;
beforeAll(async () => {
  if (process.env.DATABASE_URL) {
    console.warn('\n!!! SKIPPING postgres-restart fault tests: DATABASE_URL is set, and an external Postgres cannot be stopped from here\n');
    return;
  }
  pg = await startEmbeddedPostgres();
  await migrate(pg.url);
  const db = createDb(pg.url);
  h = await startHarness('postgres-restart fault tests', { database: { url: pg.url, db, drop: async () => db.$disconnect() } });
});
afterAll(async () => {
  if (paused) await pg?.resume(); // a failure mid-outage left it stopped
  await h?.close();
  await h?.database.drop();
  await pg?.stop();
});

/** n0 → f0..f4 (fan-out) → j → n1 → n2 → n3: ten probe activities, about 10 s end to end. */
function definition(): WorkflowDefinition {
  const probe = (id: string, sleepMs: number) => ({ id, type: 'probe', config: { sleepMs, value: id } });
  const fan = [0, 1, 2, 3, 4].map((i) => probe(`f${i}`, 1_000 + i * 200));
  return {
    name: 'pg-restart',
    nodes: [probe('n0', 1_200), ...fan, probe('j', 1_200), probe('n1', 1_400), probe('n2', 1_400), probe('n3', 1_400)],
    edges: [
      ...fan.flatMap((f) => [
        { from: 'n0', to: f.id },
        { from: f.id, to: 'j' },
      ]),
      { from: 'j', to: 'n1' },
      { from: 'n1', to: 'n2' },
      { from: 'n2', to: 'n3' },
    ],
  };
}

describe('Postgres stopped and restarted during runs', () => {
  it(`${RUNS} concurrent 10-node runs continue through two ${OUTAGE_MS / 1000} s outages; the mirror converges`, async (ctx) => {
    if (!h || !pg) return ctx.skip();
    await h.store('wf_pg_restart', definition());
    const handles = await Promise.all(
      Array.from({ length: RUNS }, (_, r) =>
        h!.server.env.client.workflow.start<typeof dagWorkflow>(DAG_WORKFLOW_TYPE, {
          taskQueue: h!.taskQueue,
          workflowId: `pg-restart-${r}-${randomUUID()}`,
          args: [{ workflowId: 'wf_pg_restart', input: { r } }],
        }),
      ),
    );
    const results = handles.map((handle) => handle.result().then((result): DagRunResult => result));
    results.forEach((p) => p.catch(() => undefined));
    const db = h.database.db;
    // Every run has loaded its definition and written its row: the outage hits the mirror mid-run.
    await waitFor('every execution row', async () => (await db.execution.count()) === RUNS, 30_000, 50);

    const done = async () => (await Promise.all(handles.map((handle) => handle.query(stateQuery)))).reduce((n, s) => n + s.progress.done, 0);
    /** Stops Postgres for OUTAGE_MS; returns how many nodes finished meanwhile. */
    const outage = async () => {
      await pg!.pause();
      paused = true;
      const before = await done();
      await sleep(OUTAGE_MS);
      const after = await done();
      await pg!.resume();
      paused = false;
      return after - before;
    };
    const first = await outage();
    await sleep(1_000);
    const second = await outage();
    console.log(`postgres-restart: nodes finished while Postgres was down: ${first} in the first outage, ${second} in the second`);
    // The DAGs do not wait for the mirror.
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(0);

    const outcomes = await Promise.all(results);
    expect(outcomes.map((o) => o.status)).toEqual(handles.map(() => 'SUCCEEDED'));
    const converged = Date.now();
    for (const handle of handles) {
      const state = await handle.query(stateQuery);
      expect(Object.values(state.nodes).map((n) => n.status)).toEqual(Array(10).fill('SUCCEEDED'));
      // The run waits for its mirror writes before it completes, so this holds at once.
      expect(await mirrorMismatches(db, handle.workflowId, state)).toEqual([]);
    }
    console.log(`postgres-restart: ${RUNS} runs SUCCEEDED; mirror matches Temporal ${Date.now() - converged} ms after the last run completed`);
  }, 180_000);
});
