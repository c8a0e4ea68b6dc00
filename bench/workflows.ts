import { CancellationScope, condition, executeChild, proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { NodeActivityInput, NodeActivityResult } from '../src/contracts/node-activity';

// The same workflow bundle serves Trellis's interpreter (with the limiters of node and run keys) and the hand-written baselines.
export { dagWorkflow, limiterWorkflow, loopWorkflow, mapBatchWorkflow, mapWorkflow } from '../src/workflows';

const { benchNoop } = proxyActivities<{ benchNoop(input: NodeActivityInput): Promise<NodeActivityResult> }>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 3, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** What an engineer would write by hand: the same activity n times in a row. */
export async function handWrittenChain(n: number): Promise<number> {
  let last = 0;
  for (let i = 0; i < n; i++) {
    const result = await benchNoop({ nodeId: `n${i}`, executionId: 'bench', config: { i } });
    last = result.attempt;
  }
  return last;
}

/** n activities at once, at most `bound` in flight, as the interpreter bounds its fan-out. */
export async function handWrittenFanOut(n: number, bound: number): Promise<number> {
  let next = 0;
  let done = 0;
  async function lane(): Promise<void> {
    while (next < n) {
      const i = next++;
      await benchNoop({ nodeId: `n${i}`, executionId: 'bench', config: { i } });
      done++;
    }
  }
  await Promise.all(Array.from({ length: Math.min(bound, n) }, lane));
  return done;
}

/** One batch of a hand-written batched map: items [start, end) at most `bound` at a time. */
export async function handWrittenBatch(start: number, end: number, bound: number): Promise<number> {
  let next = start;
  let done = 0;
  async function lane(): Promise<void> {
    while (next < end) {
      const i = next++;
      await benchNoop({ nodeId: `item${i}`, executionId: 'bench', config: { i } });
      done++;
    }
  }
  await Promise.all(Array.from({ length: Math.min(bound, end - start) }, lane));
  return done;
}

/**
 * The hand-written shape of a large map, as in Temporal's batch samples: a sliding window of
 * child workflows over item ranges (no continue-as-new: the child count stays small here).
 */
export async function handWrittenSlidingWindow(n: number, batchSize: number, window: number, perChild: number): Promise<number> {
  let running = 0;
  let done = 0;
  const scope = CancellationScope.current();
  for (let start = 0; start < n; start += batchSize) {
    await condition(() => running < window);
    running++;
    const end = Math.min(n, start + batchSize);
    void scope.run(() =>
      executeChild(handWrittenBatch, { workflowId: `${workflowInfo().workflowId}.${start}`, args: [start, end, perChild] }).then((k) => {
        done += k;
        running--;
      }),
    );
  }
  await condition(() => running === 0);
  return done;
}

type NodeActivity = (input: NodeActivityInput) => Promise<NodeActivityResult>;
const regular = proxyActivities<Record<string, NodeActivity>>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 3, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});
const local = proxyLocalActivities<Record<string, NodeActivity>>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** n calls of one activity type with one config, as regular or as local activities. */
export async function handWrittenTypedChain(n: number, type: string, config: Record<string, unknown>, asLocal: boolean): Promise<number> {
  const activities = asLocal ? local : regular;
  let last = 0;
  for (let i = 0; i < n; i++) last = (await activities[type]!({ nodeId: `n${i}`, executionId: 'bench', config })).attempt;
  return last;
}
