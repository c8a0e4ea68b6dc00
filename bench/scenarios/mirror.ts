import { randomUUID } from 'node:crypto';
import { ExecutionEventHub } from '../../src/persistence/execution-event-hub';
import { activityDone, chain, percentile, round, sideBySide, type BenchEnv } from '../env';

/**
 * Benchmark 11: what the status mirror costs. A 40-node chain stored (definition loaded,
 * every transition mirrored) against the same chain inline (not mirrored); history events per
 * activity node with and without the mirror; and the lag from a node's activity finishing to
 * its row committed (seen through the NOTIFY sent on commit).
 */
export async function mirrorCost(env: BenchEnv, runs: number) {
  const stored = await env.store(chain('benchNoop', 40));
  const chain40 = await sideBySide(
    runs,
    () => env.time('dagWorkflow', [{ workflowId: stored }]),
    () => env.time('dagWorkflow', [{ definition: chain('benchNoop', 40) }]),
  );

  const events = async (args: unknown[]) => {
    const workflowId = `bench-mirror-${randomUUID()}`;
    await env.client.workflow.execute('dagWorkflow', { taskQueue: env.taskQueue, workflowId, args });
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    return history.events ?? [];
  };
  const stored20 = await env.store(chain('benchNoop', 20));
  const stored1 = await env.store(chain('benchNoop', 1));
  const plain = (await events([{ definition: chain('benchNoop', 20) }])).length - (await events([{ definition: chain('benchNoop', 1) }])).length;
  const mirroredEvents = await events([{ workflowId: stored20 }]);
  const mirrored = mirroredEvents.length - (await events([{ workflowId: stored1 }])).length;
  const activityTasks = mirroredEvents.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType?.name);

  const hub = new ExecutionEventHub();
  await hub.start(env.databaseUrl);
  const lags: number[] = [];
  try {
    for (let r = 0; r < 5; r++) {
      const id = `bench-lag-${randomUUID()}`;
      const seen = new Set<string>();
      const unsubscribe = hub.subscribe(id, () => {
        const at = performance.now();
        void env.db.nodeRun.findMany({ where: { executionId: id, status: 'SUCCEEDED' }, select: { nodeId: true } }).then((rows) => {
          for (const { nodeId } of rows) {
            const done = activityDone.get(`${id}/${nodeId}`);
            if (!seen.has(nodeId) && done !== undefined) lags.push(at - done);
            seen.add(nodeId);
          }
        });
      });
      await env.client.workflow.execute('dagWorkflow', { taskQueue: env.taskQueue, workflowId: id, args: [{ workflowId: stored20 }] });
      await new Promise((resolve) => setTimeout(resolve, 200));
      unsubscribe();
    }
  } finally {
    await hub.close();
  }
  return {
    chain40MirroredVsUnmirrored: chain40,
    eventsPerActivityNode: round(plain / 19, 2),
    eventsPerActivityNodeWithMirror: round(mirrored / 19, 2),
    activityTasksOfAMirroredRun: [...new Set(activityTasks)].map((t) => `${t} × ${activityTasks.filter((x) => x === t).length}`),
    mirrorLag: { samples: lags.length, p50Ms: round(percentile(lags, 50)), p99Ms: round(percentile(lags, 99)) },
  };
}
