import { CancellationScope, CancelledFailure, condition, continueAsNew, executeChild, isCancellation, workflowInfo } from '@temporalio/workflow';
import { ExpressionCompiler } from '../domain/expressions';
import { itemRanges, splitBySize, type ItemOutcome, type ItemRange, type LoopConfig } from '../domain/iteration';
import { describeFailure } from './failures';
import {
  MAP_BATCH_WORKFLOW_TYPE,
  type IterationLimits,
  type IterationResult,
  type LoopWorkflowInput,
  type MapBatchInput,
  type MapBatchResult,
  type MapProgress,
  type MapWorkflowInput,
} from './iteration-contract';
import { bodyEnv, settleMap } from './iteration-node';
import { runLoopIterations } from './loop-iterations';
import { runItems } from './map-items';

/** Continue as new well before Temporal's 10,240-event warning, or when the server suggests it. */
const HISTORY_EVENTS_BUDGET = 4_000;
const HISTORY_BYTES_BUDGET = 2 * 1024 * 1024;

function historyIsLong(limits: IterationLimits | undefined): boolean {
  const info = workflowInfo();
  const events = limits?.historyEvents ?? HISTORY_EVENTS_BUDGET;
  return info.continueAsNewSuggested || info.historyLength > events || info.historySize > HISTORY_BYTES_BUDGET;
}

/**
 * A map node too large for its parent's history: runs item ranges as `mapBatchWorkflow` children,
 * at most `plan.window` at a time, and continues as new with its progress when its own history
 * grows long. Returns the node's result; it only fails when cancelled.
 */
export async function mapWorkflow(input: MapWorkflowInput): Promise<IterationResult> {
  const { plan, items } = input;
  const total = items.length;
  const reuse = input.reuse ?? {};
  const progress: MapProgress = input.progress ?? { nextRange: 0, results: new Array<unknown>(total).fill(null), failures: [], succeeded: 0, generation: 1 };
  const ranges = batchRanges(items, plan.batchSize);
  const children = new CancellationScope({ cancellable: true });
  let running = 0;
  let stopped = false;

  const record = (outcomes: ItemOutcome[]): void => {
    for (const o of outcomes) {
      if (o.status === 'SUCCEEDED') {
        progress.results[o.index] = o.output ?? null;
        progress.succeeded++;
      } else {
        progress.failures.push({ index: o.index, error: o.error ?? { type: 'Cancelled', message: 'cancelled' } });
      }
    }
    running--;
    if (progress.failures.length > input.tolerated && !stopped) {
      stopped = true;
      children.cancel();
    }
  };

  try {
    while (progress.nextRange < ranges.length && !stopped) {
      if (historyIsLong(input.limits)) break;
      await condition(() => running < plan.window || stopped);
      if (stopped) break;
      const range = ranges[progress.nextRange++]!;
      const skip = indexesIn(range).filter((i) => Object.hasOwn(reuse, String(i)));
      if (skip.length === range.end - range.start) continue;
      running++;
      void children.run(() => runBatch(input, range, skip)).then(record, (err: unknown) => record(failedRange(range, skip, err)));
    }
  } finally {
    await CancellationScope.nonCancellable(() => condition(() => running === 0));
  }
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('map cancelled');
  if (progress.nextRange < ranges.length && !stopped) {
    await continueAsNew<typeof mapWorkflow>({ ...input, progress: { ...progress, generation: progress.generation + 1 } });
  }
  // Every range before nextRange has finished (the window drained); later ones never ran.
  const failed = new Map(progress.failures.map((f) => [f.index, f.error]));
  const doneUntil = progress.nextRange >= ranges.length ? total : ranges[progress.nextRange]!.start;
  const outcomes: ItemOutcome[] = [];
  for (let index = 0; index < doneUntil; index++) {
    const error = failed.get(index);
    if (error) outcomes.push({ index, status: 'FAILED', error });
    else if (Object.hasOwn(reuse, String(index))) outcomes.push({ index, status: 'SUCCEEDED', output: reuse[String(index)], attempt: 0 });
    else outcomes.push({ index, status: 'SUCCEEDED', output: progress.results[index] ?? null });
  }
  return settleMap(input.node.id, total, input.tolerated, outcomes);
}

/** Ranges of at most `batchSize` items, cut further so no batch input passes the payload budget. */
function batchRanges(items: unknown[], batchSize: number): ItemRange[] {
  const sizes = items.map((item) => JSON.stringify(item ?? null).length);
  return itemRanges(items.length, batchSize).flatMap((range) => splitBySize(range, (i) => sizes[i]!));
}

function indexesIn(range: ItemRange): number[] {
  return Array.from({ length: range.end - range.start }, (_, k) => range.start + k);
}

async function runBatch(input: MapWorkflowInput, range: ItemRange, skip: number[]): Promise<ItemOutcome[]> {
  const batch: MapBatchInput = {
    node: input.node,
    context: input.context,
    defaults: input.defaults,
    idPrefix: input.idPrefix,
    range,
    items: input.items.slice(range.start, range.end),
    output: input.output,
    concurrency: input.plan.itemsPerWorkflow,
    maxFailures: input.tolerated,
    ...(input.limits && { limits: input.limits }),
    ...(skip.length > 0 && { skip }),
  };
  const result = await executeChild<typeof mapBatchWorkflow>(MAP_BATCH_WORKFLOW_TYPE, {
    workflowId: `${workflowInfo().workflowId}.${range.start}-${range.end - 1}`,
    args: [batch],
  });
  return result.outcomes;
}

/** A batch child that failed as a whole (terminated, timed out) fails each of its items. */
function failedRange(range: ItemRange, skip: number[], err: unknown): ItemOutcome[] {
  const skipped = new Set(skip);
  const status = isCancellation(err) ? 'CANCELLED' : 'FAILED';
  const { error } = describeFailure(err, () => 1);
  return indexesIn(range)
    .filter((i) => !skipped.has(i))
    .map((index) => ({ index, status, error }));
}

/** One range of a map's items, run with a sliding window inside this workflow. */
export async function mapBatchWorkflow(input: MapBatchInput): Promise<MapBatchResult> {
  const config = input.node.config as { body: Parameters<typeof runItems>[0]['body'] };
  const env = bodyEnv(new ExpressionCompiler(), input.defaults, input.limits);
  const outcomes = await runItems(
    {
      nodeId: input.node.id,
      body: config.body,
      output: input.output,
      items: input.items,
      firstIndex: input.range.start,
      skip: new Set(input.skip ?? []),
      concurrency: input.concurrency,
      maxFailures: input.maxFailures,
      context: input.context,
      idPrefix: input.idPrefix,
    },
    env,
  );
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('map batch cancelled');
  return { outcomes };
}

/** A loop node with many iterations: runs them, continuing as new with its progress. */
export async function loopWorkflow(input: LoopWorkflowInput): Promise<IterationResult> {
  const config = input.node.config as unknown as LoopConfig;
  const env = bodyEnv(new ExpressionCompiler(), input.defaults, input.limits);
  const progress = input.progress ?? { iteration: 0, last: null, kept: [] };
  const step = await runLoopIterations(input.node.id, config, input.context, input.idPrefix, env, progress, () => historyIsLong(input.limits));
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('loop cancelled');
  if (step.settled) return step.settled;
  return continueAsNew<typeof loopWorkflow>({ ...input, progress: step.progress });
}
