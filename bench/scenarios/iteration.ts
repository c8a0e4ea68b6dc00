import type { WorkflowDefinition } from '../../src/domain/definition';
import { round, sideBySide, type BenchEnv } from '../env';

const mapOf = (n: number, maxConcurrency: number): WorkflowDefinition => ({
  name: `map-${n}`,
  nodes: [
    {
      id: 'each',
      type: 'map',
      config: {
        items: `[0..${n - 1}]`,
        maxItems: Math.max(n, 1),
        maxConcurrency,
        body: { nodes: [{ id: 'work', type: 'benchNoop', config: { i: '{{ item }}' } }] },
      },
    },
  ],
});

/** Every workflow a run started (its id prefix), with its history length: the largest is the wall to watch. */
async function histories(env: BenchEnv, rootId: string): Promise<{ workflows: number; largestEvents: number; totalEvents: number }> {
  const from = new Date(Date.now() - 6 * 3600_000).toISOString();
  const to = new Date(Date.now() + 3600_000).toISOString();
  let workflows = 0;
  let largest = 0;
  let total = 0;
  for await (const w of env.client.workflow.list({ query: `StartTime BETWEEN "${from}" AND "${to}"` })) {
    if (w.workflowId !== rootId && !w.workflowId.startsWith(`${rootId}.`)) continue;
    const events = (await env.client.workflow.getHandle(w.workflowId, w.runId).fetchHistory()).events?.length ?? 0;
    workflows++;
    total += events;
    largest = Math.max(largest, events);
  }
  return { workflows, largestEvents: largest, totalEvents: total };
}

/**
 * Benchmarks of map nodes: a 1,000-item map of a no-op activity against a hand-written bounded
 * Promise.all (goal <= 1.2x), and a large map (BENCH_MAP_ITEMS, default 100,000) against a
 * hand-written sliding window of child workflows (goal <= 1.3x), with history events per item,
 * the largest history of any workflow involved, and the worker's peak RSS.
 */
export async function iteration(env: BenchEnv, runs: number) {
  const concurrency = 100;
  const map1000 = await sideBySide(
    runs,
    () => env.time('dagWorkflow', [{ definition: mapOf(1_000, concurrency) }]),
    () => env.time('handWrittenFanOut', [1_000, concurrency]),
  );

  const n = Number(process.env.BENCH_MAP_ITEMS ?? 100_000);
  // BENCH_MAP_ITEMS=0: only the 1,000-item comparison (the large map and loop take many minutes).
  if (n === 0) return { map1000 };
  const big = Number(process.env.BENCH_MAP_CONCURRENCY ?? 500);
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 250);
  try {
    const rootId = `bench-map-${n}-${Date.now()}`;
    const t0 = performance.now();
    await env.client.workflow.execute('dagWorkflow', { taskQueue: env.taskQueue, workflowId: rootId, args: [{ definition: mapOf(n, big) }] });
    const trellisMs = performance.now() - t0;
    const baselineId = `bench-window-${n}-${Date.now()}`;
    const t1 = performance.now();
    await env.client.workflow.execute('handWrittenSlidingWindow', { taskQueue: env.taskQueue, workflowId: baselineId, args: [n, 1_000, Math.ceil(big / 500), 500] });
    const baselineMs = performance.now() - t1;
    const trellisHistories = await histories(env, rootId);
    const loop = await loopScale(env, Number(process.env.BENCH_LOOP_ITERATIONS ?? 10_000));
    return {
      loop,
      map1000,
      mapLarge: {
        items: n,
        trellisMs: round(trellisMs),
        baselineMs: round(baselineMs),
        ratio: round(trellisMs / baselineMs, 3),
        ...trellisHistories,
        eventsPerItem: round(trellisHistories.totalEvents / n, 2),
        baselineEventsPerItem: round((await histories(env, baselineId)).totalEvents / n, 2),
        workerPeakRssMiB: round(peakRss / 2 ** 20),
      },
    };
  } finally {
    clearInterval(sampler);
  }
}

/** A loop of `n` iterations (an in-workflow body): time and the largest history of the runs involved. */
async function loopScale(env: BenchEnv, n: number) {
  const definition: WorkflowDefinition = {
    name: `loop-${n}`,
    nodes: [
      {
        id: 'count',
        type: 'loop',
        config: {
          body: { nodes: [{ id: 'step', type: 'transform', config: { expression: 'iteration * 2' } }] },
          until: `iteration >= ${n}`,
          maxIterations: n,
        },
      },
    ],
  };
  const rootId = `bench-loop-${n}-${Date.now()}`;
  const t0 = performance.now();
  await env.client.workflow.execute('dagWorkflow', { taskQueue: env.taskQueue, workflowId: rootId, args: [{ definition }] });
  const ms = performance.now() - t0;
  return { iterations: n, ms: round(ms), ...(await histories(env, rootId)) };
}
