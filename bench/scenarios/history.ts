import { randomUUID } from 'node:crypto';
import { chain, fanOut, round, type BenchEnv } from '../env';

/** Benchmark 7: history events per node kind, and the largest DAG run here. */
export async function historyGrowth(env: BenchEnv) {
  const events = async (args: unknown[]) => {
    const workflowId = `bench-history-${randomUUID()}`;
    const started = performance.now();
    await env.client.workflow.execute('dagWorkflow', { taskQueue: env.taskQueue, workflowId, args });
    const ms = performance.now() - started;
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    return { events: history.events?.length ?? 0, ms };
  };
  const empty = await events([{ definition: chain('noop', 1, () => ({})) }]);
  const activity20 = await events([{ definition: chain('benchNoop', 20) }]);
  const inline20 = await events([{ definition: chain('transform', 20, (i) => ({ expression: `${i}` })) }]);
  const storedId = await env.store(chain('benchNoop', 20));
  const mirrored20 = await events([{ workflowId: storedId }]);
  const largest = await events([{ definition: fanOut(1000) }]);
  return {
    eventsPerActivityNode: round((activity20.events - empty.events) / 19, 2),
    eventsPerInlineNode: round((inline20.events - empty.events) / 19, 2),
    eventsPerActivityNodeWithMirror: round((mirrored20.events - empty.events) / 19, 2),
    largestDag: { nodes: 1000, shape: 'fan-out', historyEvents: largest.events, ms: round(largest.ms) },
    note: 'DESIGN.md caps a definition at 1,000 nodes; continue-as-new for longer histories is not implemented',
  };
}
