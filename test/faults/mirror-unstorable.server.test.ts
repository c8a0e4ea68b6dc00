import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { DAG_WORKFLOW_TYPE } from '../../src/contracts/dag-workflow';
import { startHarness, type Harness } from '../server/harness';
import { sleep } from '../support/fault-process';

/*
 * Found while fuzzing: Postgres jsonb refuses U+0000 and unpaired surrogates (22P05). A node whose
 * output holds one (an http node reading such a body, a transform building one) made every
 * mirrorTransitions attempt fail; the mirror retries without limit and the run waits for it, so
 * the run never completed. The mirror must store something (Temporal keeps the exact value) and
 * the run must end.
 */
let h: Harness | undefined;
beforeAll(async () => {
  h = await startHarness('mirror unstorable-output server tests');
});
afterAll(async () => {
  await h?.close();
});

describe('a node output Postgres cannot store', () => {
  it('does not hold the run open, and the mirror records the run', async (ctx) => {
    if (!h) return ctx.skip();
    await h.store('wf_nul', {
      name: 'nul',
      nodes: [{ id: 't', type: 'transform', config: { expression: '{"k\\u0000": "a\\u0000b\\ud800"}' } }],
    });
    const handle = await h.server.env.client.workflow.start(DAG_WORKFLOW_TYPE, {
      taskQueue: h.taskQueue,
      workflowId: `nul-${randomUUID()}`,
      args: [{ workflowId: 'wf_nul', input: { s: 'in\u0000put' } }],
    });
    try {
      const outcome = await Promise.race([handle.result(), sleep(20_000).then(() => 'still running after 20 s')]);
      expect(outcome).toMatchObject({ status: 'SUCCEEDED', outputs: { t: { 'k\u0000': 'a\u0000b\ud800' } } });
      const row = await h.database.db.execution.findUniqueOrThrow({ where: { id: handle.workflowId }, include: { nodeRuns: true } });
      expect(row.status).toBe('SUCCEEDED');
      expect(row.nodeRuns.map((n) => n.status)).toEqual(['SUCCEEDED']);
    } finally {
      await handle.terminate('test over').catch(() => undefined);
    }
  }, 60_000);
});
