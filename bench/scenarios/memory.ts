import { randomUUID } from 'node:crypto';
import { chain, round, type BenchEnv } from '../env';

/** Benchmark 8: peak RSS of the process running the worker, with 200 concurrent 20-node runs. */
export async function workerMemory(env: BenchEnv) {
  const definition = chain('benchNoop', 20);
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 200 }, () =>
      env.client.workflow.execute('dagWorkflow', { taskQueue: env.taskQueue, workflowId: `bench-mem-${randomUUID()}`, args: [{ definition }] }),
    ),
  );
  clearInterval(sampler);
  return {
    runs: 200,
    nodesPerRun: 20,
    ms: round(performance.now() - started),
    rssBeforeMiB: round(before / 2 ** 20),
    peakRssMiB: round(peak / 2 ** 20),
    note: 'one process holds the worker, the client and the bench; the worker dominates',
  };
}
