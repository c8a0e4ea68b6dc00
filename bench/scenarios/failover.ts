import fs from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { JOURNAL_DDL, prebuiltWorkflowBundle, spawnReady, waitFor, type FaultProcess, type JournalRow } from '../../test/support/fault-process';
import { round, type BenchEnv } from '../env';

/**
 * Benchmark 9: the stall after a SIGKILL of the worker process running a node. Two worker
 * processes (test/support/fault-worker.ts) poll a queue of their own; the one running a 4 s
 * node is killed 1.5 s in. Reported: kill → the retried attempt starts on the live worker, and
 * kill → the run completes (the node's own 4 s included).
 */
export async function failoverStall(env: BenchEnv, runs: number) {
  await env.db.$executeRawUnsafe(JOURNAL_DDL);
  const bundle = await prebuiltWorkflowBundle();
  const taskQueue = `trellis-bench-failover-${randomUUID()}`;
  const workers: FaultProcess[] = [];
  const start = async (generation: number) => {
    const worker = await spawnReady('test/support/fault-worker.ts', {
      TEMPORAL_ADDRESS: env.address,
      DATABASE_URL: env.databaseUrl,
      TRELLIS_TASK_QUEUE: taskQueue,
      TRELLIS_WORKFLOW_BUNDLE: bundle,
      FAULT_GENERATION: String(generation),
    });
    workers[generation] = worker;
  };
  const definition: WorkflowDefinition = { name: 'failover', nodes: [{ id: 'slow', type: 'journaled', config: { sleepMs: 4_000 } }] };
  const journal = (executionId: string) =>
    env.db.$queryRawUnsafe<(JournalRow & { at: Date })[]>('SELECT * FROM fault_journal WHERE execution_id = $1 ORDER BY seq', executionId);
  const retryStartMs: number[] = [];
  const runEndMs: number[] = [];
  let generation = 0;
  try {
    await start(generation++);
    await start(generation++);
    for (let i = 0; i < Math.min(runs, 3); i++) {
      const handle = await env.client.workflow.start('dagWorkflow', { taskQueue, workflowId: `bench-failover-${randomUUID()}`, args: [{ definition }] });
      const first = await waitFor('attempt 1', async () => (await journal(handle.workflowId)).find((j) => j.event === 'start'), 30_000, 20);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await workers[first.generation]!.kill();
      const killedAt = Date.now();
      await start(generation++); // keep two workers for the next round
      const retried = await waitFor('attempt 2', async () => (await journal(handle.workflowId)).find((j) => j.attempt === 2), 600_000, 20);
      retryStartMs.push(new Date(retried.at).getTime() - killedAt);
      await handle.result();
      runEndMs.push(Date.now() - killedAt);
    }
  } finally {
    await Promise.all(workers.map((w) => w?.kill()));
    await fs.rm(bundle, { force: true });
  }
  return {
    killToRetryStartMs: retryStartMs.map((x) => round(x)),
    killToRunEndMs: runEndMs.map((x) => round(x)),
    note: 'node of 4 s killed 1.5 s in; platform defaults (heartbeat timeout 5 s, initialInterval 1 s); run end includes the node re-running 4 s and up to 10 s for the dead worker\'s sticky queue to time out',
  };
}
