import {
  CancellationScope,
  CancelledFailure,
  condition,
  continueAsNew,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import { ExpressionCompiler } from '../domain/expressions';
import type { ItemRange, LoopConfig, MapConfig, MapOutput } from '../domain/iteration';
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
} from '../contracts/iteration-workflows';
import { bodyEnv, settleMapOutput } from './iteration-node';
import type { IterationStoreActivities, ItemsChunk, ResultsChunk } from '../contracts/iteration-store';
import { MAP_BATCH_RESULTS_PATCH, MAP_COMPACT_RESULTS_PATCH } from '../contracts/patches';
import { runLoopIterations } from './loop-iterations';
import { runItems } from './map-items';
import { refuseOrphanTenantScope } from './tenant-claim';
import { childRunOptions } from './search-attributes';
import { PauseGate } from './run-pause';
import { useRecordedSdkFlags } from './recorded-sdk-flags';

/** Continue as new well before Temporal's 10,240-event warning, or when the server suggests it. */
const HISTORY_EVENTS_BUDGET = 4_000;
const HISTORY_BYTES_BUDGET = 2 * 1024 * 1024;

function historyIsLong(limits: IterationLimits | undefined): boolean {
  const info = workflowInfo();
  const events = limits?.historyEvents ?? HISTORY_EVENTS_BUDGET;
  return info.continueAsNewSuggested || info.historyLength > events || info.historySize > HISTORY_BYTES_BUDGET;
}

const store = proxyActivities<IterationStoreActivities>({ startToCloseTimeout: '2m', retry: { maximumAttempts: 5 } });

/** A batch's results above this size are stored, so the coordinator's history holds a reference. */
const RESULTS_INLINE_BYTES = 16 * 1024;
/**
 * Since MAP_BATCH_RESULTS_PATCH: above this. At 16 KB a 100,000-item map's coordinator held
 * ~7 KB per batch completion, 2.8 MB in all, and on a server that does not report history size
 * (before 1.20) nothing made it continue as new: its history reached 6.4 MB.
 */
const RESULTS_INLINE_BYTES_PATCHED = 1024;
/** The map's `results` above this size are stored as one value (the output store's threshold). */
const OUTPUT_INLINE_BYTES = 256 * 1024;

/**
 * A map node too large for its parent's history: runs its item chunks as `mapBatchWorkflow`
 * children, at most `plan.window` at a time, and continues as new with its progress (results
 * by reference) when its own history grows long. Returns the node's result; fails only when cancelled.
 */
export async function mapWorkflow(input: MapWorkflowInput): Promise<IterationResult> {
  useRecordedSdkFlags();
  refuseOrphanTenantScope(input);
  const { plan, chunks, total } = input;
  const reuse = input.reuse ?? {};
  const progress: MapProgress = input.progress ?? { nextChunk: 0, results: [], failures: [], succeeded: 0, generation: 1 };
  const children = new CancellationScope({ cancellable: true });
  let running = 0;
  let stopped = false;
  const pause = PauseGate.forChild(input.pause);

  const compactor = new ResultsCompactor(input, progress);
  const record = (batch: MapBatchResult): void => {
    running--;
    progress.succeeded += batch.succeeded;
    progress.failures.push(...batch.failures);
    progress.results.push(batch.results);
    compactor.added(batch.results);
    if (progress.failures.length > input.tolerated && !stopped) {
      stopped = true;
      children.cancel();
    }
  };

  try {
    while (progress.nextChunk < chunks.length && !stopped) {
      if (historyIsLong(input.limits)) break;
      await compactor.compactIfLarge();
      await condition(() => running < plan.window || stopped);
      if (stopped) break;
      // [run-pause] no batch starts while paused (nothing is awaited when not paused).
      const paused = pause.wait();
      if (paused) await paused;
      if (stopped) break;
      const chunk = chunks[progress.nextChunk++]!;
      const reused = reusedIn(chunk, reuse);
      if (Object.keys(reused).length === chunk.end - chunk.start) {
        progress.succeeded += chunk.end - chunk.start;
        progress.results.push({ start: chunk.start, end: chunk.end, results: indexesIn(chunk).map((i) => reused[String(i)]) });
        compactor.added(progress.results.at(-1)!);
        continue;
      }
      running++;
      void children.run(() => runBatch(input, chunk, reused, pause)).then(record, (err: unknown) => record(failedBatch(chunk, reused, err)));
    }
  } finally {
    await CancellationScope.nonCancellable(() => condition(() => running === 0));
  }
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('map cancelled');
  await compactor.compactIfLarge();
  if (progress.nextChunk < chunks.length && !stopped) {
    await continueAsNew<typeof mapWorkflow>(pause.childInput({ ...input, progress: { ...progress, generation: progress.generation + 1 } }));
  }
  // Chunks never started (the failure budget ran out) count as cancelled items.
  for (const chunk of chunks.slice(progress.nextChunk)) {
    for (const index of indexesIn(chunk)) progress.failures.push({ index, error: { type: 'Cancelled', message: 'not run: the map stopped first' } });
  }
  const failures = progress.failures.sort((a, b) => a.index - b.index);
  const results = await joinResults(input, progress.results);
  const output: MapOutput = { results, counts: { total, succeeded: total - failures.length, failed: failures.length }, failures };
  return settleMapOutput(input.node.id, input.tolerated, output);
}

/** Inline batch results a coordinator carries at most before it stores them (by reference). */
const PROGRESS_INLINE_BYTES = 256 * 1024;

/** Keeps the inline part of a coordinator's results small: past the budget, stores them. */
class ResultsCompactor {
  private inlineBytes: number;
  private useless = false;

  constructor(
    private readonly input: MapWorkflowInput,
    private readonly progress: MapProgress,
  ) {
    this.inlineBytes = progress.results.reduce((sum, c) => sum + (c.results ? JSON.stringify(c.results).length : 0), 0);
  }

  added(chunk: ResultsChunk): void {
    if (chunk.results) this.inlineBytes += JSON.stringify(chunk.results).length;
  }

  async compactIfLarge(): Promise<void> {
    const budget = this.input.limits?.progressInlineBytes ?? PROGRESS_INLINE_BYTES;
    if (this.useless || this.inlineBytes <= budget || !patched(MAP_COMPACT_RESULTS_PATCH)) return;
    const inline = this.progress.results.filter((c) => c.results !== undefined);
    const stored = await store.storeResultChunks({
      executionId: this.input.context.execution.id,
      nodeId: this.input.node.id,
      chunks: inline,
      ...tenantOf(this.input),
    });
    const byStart = new Map(stored.filter((c) => c.ref).map((c) => [c.start, c]));
    // Without a database nothing is stored: stop trying (such a worker runs small maps only).
    if (byStart.size === 0) this.useless = true;
    // Batches that finished meanwhile were not part of this call and stay inline.
    this.progress.results = this.progress.results.map((c) => (c.results !== undefined && byStart.get(c.start)) || c);
    this.inlineBytes = this.progress.results.reduce((sum, c) => sum + (c.results ? JSON.stringify(c.results).length : 0), 0);
  }
}

function reusedIn(range: ItemRange, reuse: Record<string, unknown>): Record<string, unknown> {
  const found: Record<string, unknown> = {};
  for (const i of indexesIn(range)) if (Object.hasOwn(reuse, String(i))) found[String(i)] = reuse[String(i)];
  return found;
}

/** Every batch's results in item order: joined here when small and inline, else by the store. */
async function joinResults(input: MapWorkflowInput, chunks: ResultsChunk[]): Promise<unknown> {
  const inline = chunks.every((c) => c.results !== undefined);
  if (inline && JSON.stringify(chunks).length <= OUTPUT_INLINE_BYTES) {
    const results = new Array<unknown>(input.total).fill(null);
    for (const c of chunks) c.results!.forEach((r, k) => (results[c.start + k] = r ?? null));
    return results;
  }
  return store.assembleMapResults({
    executionId: input.context.execution.id,
    nodeId: input.node.id,
    chunks,
    inlineBytes: OUTPUT_INLINE_BYTES,
    ...tenantOf(input),
  });
}

/** Stored items and results belong to the run's tenant. */
function tenantOf(input: { tenantId?: string }): { tenantId?: string } {
  return input.tenantId === undefined ? {} : { tenantId: input.tenantId };
}

function indexesIn(range: ItemRange): number[] {
  return Array.from({ length: range.end - range.start }, (_, k) => range.start + k);
}

async function runBatch(input: MapWorkflowInput, chunk: ItemsChunk, reuse: Record<string, unknown>, pause: PauseGate): Promise<MapBatchResult> {
  const batch: MapBatchInput = {
    node: input.node,
    context: input.context,
    defaults: input.defaults,
    idPrefix: input.idPrefix,
    ...(input.tenantId !== undefined && { tenantId: input.tenantId }),
    depth: input.depth ?? 0,
    chunk,
    output: input.output,
    concurrency: input.plan.itemsPerWorkflow,
    maxFailures: input.tolerated,
    ...(input.limits && { limits: input.limits }),
    ...(Object.keys(reuse).length > 0 && { reuse }),
  };
  const workflowId = `${workflowInfo().workflowId}.${chunk.start}-${chunk.end - 1}`;
  // [run-pause] the batch follows the coordinator's pause until it ends.
  return pause.track(workflowId, executeChild<typeof mapBatchWorkflow>(MAP_BATCH_WORKFLOW_TYPE, {
    workflowId,
    args: [pause.childInput(batch)],
    ...childRunOptions('MAP_BATCH'),
  }));
}

/** A batch child that failed as a whole (terminated, timed out, cancelled) fails each of its items. */
function failedBatch(chunk: ItemsChunk, reuse: Record<string, unknown>, err: unknown): MapBatchResult {
  const { error } = describeFailure(err, () => 1);
  const failed = isCancellation(err) ? { type: 'Cancelled', message: 'cancelled' } : error;
  const indexes = indexesIn(chunk);
  return {
    succeeded: Object.keys(reuse).length,
    failures: indexes.filter((i) => !Object.hasOwn(reuse, String(i))).map((index) => ({ index, error: failed })),
    results: { start: chunk.start, end: chunk.end, results: indexes.map((i) => reuse[String(i)] ?? null) },
  };
}

/** One chunk of a map's items, run with a sliding window inside this workflow. */
export async function mapBatchWorkflow(input: MapBatchInput): Promise<MapBatchResult> {
  useRecordedSdkFlags();
  refuseOrphanTenantScope(input);
  const config = input.node.config as unknown as MapConfig;
  const env = bodyEnv(new ExpressionCompiler(), input.defaults, input.limits, { ...input, pause: PauseGate.forChild(input.pause) });
  const { chunk } = input;
  const items = chunk.items ?? (await store.loadMapItems(chunk, tenantOf(input)));
  const reuse = input.reuse ?? {};
  const outcomes = await runItems(
    {
      nodeId: input.node.id,
      body: config.body,
      output: input.output,
      items,
      firstIndex: chunk.start,
      skip: new Set(Object.keys(reuse).map(Number)),
      concurrency: input.concurrency,
      maxFailures: input.maxFailures,
      context: input.context,
      idPrefix: input.idPrefix,
    },
    env,
  );
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('map batch cancelled');
  const results = indexesIn(chunk).map((i) => reuse[String(i)] ?? null);
  const failures: MapBatchResult['failures'] = [];
  const ran = new Set<number>();
  let succeeded = Object.keys(reuse).length;
  for (const o of outcomes) {
    ran.add(o.index);
    if (o.status === 'SUCCEEDED') {
      succeeded++;
      results[o.index - chunk.start] = o.output ?? null;
    } else failures.push({ index: o.index, error: o.error ?? { type: 'Cancelled', message: 'cancelled' } });
  }
  for (const index of indexesIn(chunk)) {
    if (!ran.has(index) && !Object.hasOwn(reuse, String(index))) failures.push({ index, error: { type: 'Cancelled', message: 'not run: the map stopped first' } });
  }
  let stored: ResultsChunk = { start: chunk.start, end: chunk.end, results };
  const resultBytes = JSON.stringify(results).length;
  if (resultBytes > RESULTS_INLINE_BYTES || (resultBytes > RESULTS_INLINE_BYTES_PATCHED && patched(MAP_BATCH_RESULTS_PATCH))) {
    stored = await store.storeMapResults({ executionId: input.context.execution.id, nodeId: input.node.id, chunk: stored, ...tenantOf(input) });
  }
  return { succeeded, failures, results: stored };
}

/** A loop node with many iterations: runs them, continuing as new with its progress. */
export async function loopWorkflow(input: LoopWorkflowInput): Promise<IterationResult> {
  useRecordedSdkFlags();
  refuseOrphanTenantScope(input);
  const config = input.node.config as unknown as LoopConfig;
  const pause = PauseGate.forChild(input.pause);
  const env = bodyEnv(new ExpressionCompiler(), input.defaults, input.limits, { ...input, pause });
  const progress = input.progress ?? { iteration: 0, last: null, kept: [] };
  const step = await runLoopIterations(input.node.id, config, input.context, input.idPrefix, env, progress, () => historyIsLong(input.limits));
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('loop cancelled');
  if (step.settled) return step.settled;
  return continueAsNew<typeof loopWorkflow>(pause.childInput({ ...input, progress: step.progress }));
}
