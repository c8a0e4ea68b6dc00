import { randomUUID } from 'node:crypto';
import { DAG_WORKFLOW_TYPE } from '../../src/contracts/dag-workflow';
import { MAX_LIMIT } from '../../src/domain/flow-control';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { chain, median, round, sideBySide, type BenchEnv } from '../env';
import { fairShare } from './fair-share';

/**
 * Flow control's cost (issue 24 item 7), three parts:
 * - chain40: the stored 40-node activity chain with a node-level `concurrency` key on every node
 *   (limit MAX_LIMIT, so no attempt ever waits: what is measured is the limiter's round trips)
 *   against the same stored chain without it, interleaved. Goal <= 1.1x.
 * - acquisitions: limiter throughput, acquisitions (= node attempts granted, held and released)
 *   per second, for one hot key (BENCH_LIMIT_RUNS runs x BENCH_LIMIT_FAN nodes in parallel, all
 *   on one key) and for the same nodes spread over RUNS x FAN distinct keys (1,000 by default),
 *   against the same fan-out without keys. Measured from the first start to the last result.
 * - fairShare: the noisy-neighbour figures of item 1 (scenarios/fair-share.ts).
 */
export async function limits(env: BenchEnv, runs: number) {
  const keyed = await env.store(withKeys(chain('benchNoop', 40), () => 'bench-chain'));
  const plain = await env.store(chain('benchNoop', 40));
  const stored = (workflowId: string) => () => env.time(DAG_WORKFLOW_TYPE, [{ workflowId }]);
  const chain40 = process.env.BENCH_LIMITS_CHAIN === '0' ? undefined : await sideBySide(runs, stored(keyed), stored(plain));
  console.error(`limits.chain40 ${JSON.stringify(chain40)}`); // partial results survive a hang below
  const fair = process.env.BENCH_LIMITS_FAIR === '0' ? undefined : await fairShare(env, runs);
  if (fair) console.error(`limits.fairShare ${JSON.stringify(fair)}`);

  const parallelRuns = Number(process.env.BENCH_LIMIT_RUNS ?? 10);
  const fan = Number(process.env.BENCH_LIMIT_FAN ?? 100);
  const fanOut = (name: string): WorkflowDefinition => ({
    name,
    nodes: Array.from({ length: fan }, (_, i) => ({ id: `n${i}`, type: 'benchNoop', config: { i } })),
  });
  const hot = await env.store(withKeys(fanOut('limits-hot'), () => 'bench-hot'));
  const spread = await env.store(withKeys(fanOut('limits-spread'), (i) => `bench-spread-{{ input.r }}-${i}`));
  const none = await env.store(fanOut('limits-none'));
  // Every run starts at once; the wall time from the first start to the last result. A burst
  // that does not finish in BENCH_LIMIT_BURST_MS is terminated and recorded (NaN), not waited on.
  const deadlineMs = Number(process.env.BENCH_LIMIT_BURST_MS ?? 180_000);
  const stuck: string[] = [];
  const burst = async (workflowId: string) => {
    const started = performance.now();
    const handles = await Promise.all(
      Array.from({ length: parallelRuns }, (_, r) =>
        env.client.workflow.start(DAG_WORKFLOW_TYPE, { taskQueue: env.taskQueue, workflowId: `bench-limits-${randomUUID()}`, args: [{ workflowId, input: { r: `${r}-${randomUUID().slice(0, 8)}` } }] }),
      ),
    );
    const done = new Set<string>();
    // A loaded server lets a history long poll run past its deadline: ask again, the run goes on.
    const settled = async (h: (typeof handles)[number]): Promise<void> => {
      for (;;) {
        try {
          await h.result();
          done.add(h.workflowId);
          return;
        } catch (err) {
          if (!/DEADLINE_EXCEEDED/.test(String((err as { cause?: unknown }).cause ?? err))) throw err;
        }
      }
    };
    const all = Promise.all(handles.map(settled));
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([all.then(() => false), new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), deadlineMs); })]);
    clearTimeout(timer);
    if (!late) return performance.now() - started;
    for (const h of handles.filter((h) => !done.has(h.workflowId))) {
      stuck.push(h.workflowId);
      await h.terminate('bench: burst did not finish in time').catch(() => undefined);
    }
    all.catch(() => undefined);
    return NaN;
  };
  await burst(none); // warm-up
  const times: Record<'hot' | 'spread' | 'none', number[]> = { hot: [], spread: [], none: [] };
  const rounds = Math.max(1, Math.min(runs, 3));
  for (let i = 0; i < rounds; i++) {
    times.none.push(await burst(none));
    times.hot.push(await burst(hot));
    times.spread.push(await burst(spread));
  }
  const nodes = parallelRuns * fan;
  const perSecond = (ms: number) => round((nodes / ms) * 1000);
  const finished = (kind: 'hot' | 'spread' | 'none') => times[kind].filter((ms) => !Number.isNaN(ms));
  const summary = (kind: 'hot' | 'spread' | 'none') => ({ medianMs: round(median(finished(kind))), finishedBursts: finished(kind).length, perSecond: perSecond(median(finished(kind))), ms: times[kind].map((x) => round(x)) });
  const acquisitions = {
    attempts: nodes,
    runs: parallelRuns,
    nodesPerRun: fan,
    oneHotKey: { ...summary('hot'), keys: 1 },
    spreadKeys: { ...summary('spread'), keys: nodes },
    withoutKeys: summary('none'),
    hotVsNoKeysTimeRatio: round(median(finished('hot')) / median(finished('none')), 2),
    spreadVsNoKeysTimeRatio: round(median(finished('spread')) / median(finished('none')), 2),
    stuckRunsTerminated: stuck,
  };
  return { chain40, acquisitions, ...(fair && { fairShare: fair }), note: 'loaded 2-core machine shared with other agents and one Temporal dev server: compare ratios within this run only' };
}

/** Every node of `definition` with a node-level concurrency key that never makes it wait. */
function withKeys(definition: WorkflowDefinition, key: (i: number) => string): WorkflowDefinition {
  return { ...definition, nodes: definition.nodes.map((node, i) => ({ ...node, concurrency: { key: key(i), limit: MAX_LIMIT } })) };
}
