import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { DAG_WORKFLOW_TYPE, type DagRunResult } from '../../src/contracts/dag-workflow';
import type { dagWorkflow } from '../../src/workflows';
import { JOURNAL_DDL, sleep, waitFor, type JournalRow } from '../support/fault-process';
import { useFaultEnvironment } from '../support/fault-environment';

/*
 * Failover in seconds: a node whose worker process is SIGKILLed mid-attempt is retried on a live
 * worker within 10 s, with nothing but the platform defaults (no timeout or heartbeat set in the
 * definition). Before the default heartbeat timeout, Temporal noticed the lost attempt only at
 * startToClose (5 min). The definition is passed inline, so the mirror is not involved.
 */
const FAILOVER_BOUND_MS = 10_000;
const NODE_MS = 4_000;
const STICKY_TIMEOUT_MS = 10_000;

const fault = useFaultEnvironment('worker-failover fault tests', { journalDdl: JOURNAL_DDL, taskQueuePrefix: 'trellis-failover' });

async function journal(executionId: string): Promise<(JournalRow & { at: Date })[]> {
  return fault.database!.db.$queryRawUnsafe<(JournalRow & { at: Date })[]>(
    'SELECT * FROM fault_journal WHERE execution_id = $1 ORDER BY seq',
    executionId,
  );
}

describe('SIGKILL of the worker running a node', () => {
  it(`the node's attempt is retried on a live worker within ${FAILOVER_BOUND_MS / 1000} s, by default`, async (ctx) => {
    if (!fault.server || !fault.database) return ctx.skip();
    const definition: WorkflowDefinition = {
      name: 'failover',
      nodes: [
        { id: 'slow', type: 'journaled', config: { sleepMs: NODE_MS } },
        { id: 'after', type: 'noop' },
      ],
      edges: [{ from: 'slow', to: 'after' }],
    };
    // Two workers: the one that picks up the attempt gets killed, the other stays alive.
    const first = await fault.startWorker(0);
    const second = await fault.startWorker(1);
    const handle = await fault.server.env.client.workflow.start<typeof dagWorkflow>(DAG_WORKFLOW_TYPE, {
      taskQueue: fault.taskQueue,
      workflowId: `failover-${randomUUID()}`,
      args: [{ definition }],
    });
    fault.handles.push(handle);
    const started = await waitFor('attempt 1 to start', async () => (await journal(handle.workflowId)).find((j) => j.event === 'start'), 30_000, 25);
    await sleep(1_500);
    const victim = started.generation === 0 ? first : second;
    await victim.kill();
    const killedAt = Date.now();

    const retried = await waitFor(
      'attempt 2 to start',
      async () => (await journal(handle.workflowId)).find((j) => j.event === 'start' && j.attempt === 2),
      60_000,
      25,
    );
    const stallMs = new Date(retried.at).getTime() - killedAt;
    const result: DagRunResult = await handle.result();
    const finishedMs = Date.now() - killedAt;
    console.log(`worker-failover: attempt 2 started ${stallMs} ms after the kill; run finished ${finishedMs} ms after it`);

    expect(retried.generation).not.toBe(started.generation);
    expect(stallMs).toBeLessThanOrEqual(FAILOVER_BOUND_MS);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.outputs.slow).toEqual({ nodeId: 'slow', attempt: 2 });
    // The run ends once the retried attempt has run (the node's own time) and a live worker has
    // taken over the run's workflow task from the dead one's sticky queue (the SDK's 10 s
    // sticky schedule-to-start timeout; a shorter one made big fan-outs replay under load).
    expect(finishedMs).toBeLessThanOrEqual(FAILOVER_BOUND_MS + NODE_MS + STICKY_TIMEOUT_MS + 5_000);
  }, 120_000);
});
