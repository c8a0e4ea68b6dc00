import { CancellationScope, condition, patched, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { ExpressionContext } from '../domain/expressions';
import { sinkIds, sinkResult, type Body, type ItemOutcome } from '../domain/iteration';
import { executionOf } from '../domain/node-types';
import { runBody, type BodyContext, type BodyEnv, type BodyOutcome } from './body-run';
import { describeFailure } from './failures';
import type { MapItemRow, MapItemsActivities } from '../contracts/map-items';
import { MAP_ITEMS_LIVE_PATCH } from '../contracts/patches';

const itemsMirror = proxyActivities<MapItemsActivities>({
  startToCloseTimeout: '30s',
  // Like the run mirror: Postgres may be down for a while; the rows wait for it.
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '15s' },
});

/**
 * This workflow's id and run id, written with the item rows it mirrors so the console can open
 * the workflow that ran an item. Reading workflowInfo() issues no command: replay is unchanged.
 */
export function rowsWrittenBy(): { workflowId: string; runId: string } {
  const { workflowId, runId } = workflowInfo();
  return { workflowId, runId };
}

/** Item rows per mirror write: one activity per this many items keeps the history cost small. */
const ITEM_ROWS_PER_WRITE = 250;

/** Time-driven writes at most this often, and at most every 1/LIVE_SPACING_FRACTION of the map's age. */
const LIVE_WRITE_INTERVAL_MS = 1_000;
const LIVE_SPACING_FRACTION = 50;

/**
 * Writes item rows beside the items, one batch in flight at a time; the map waits only for the
 * last write, before it settles. A batch goes out at 250 rows, and (patched runs) as soon as a
 * row waits and the last write started long enough ago: the first finished item is written at
 * once, then at most one write a second, spaced wider as a long map ages (a map running for an
 * hour adds a few hundred writes to its history, not 3,600). The SSE stream throttles its
 * `items` events to one per node and second on top of that.
 */
class ItemRowWriter {
  private readonly pending: MapItemRow[] = [];
  private writing = false;
  private readonly ranBy = rowsWrittenBy();
  private readonly live = patched(MAP_ITEMS_LIVE_PATCH);
  private readonly startedAt = Date.now();
  private lastWrite = -Infinity;
  /** Set by drain(): from then on every write's end starts the next, whatever the batch size. */
  private draining = false;

  constructor(
    private readonly executionId: string,
    private readonly nodeId: string,
  ) {}

  add(row: MapItemRow): void {
    this.pending.push(row);
    if (this.due()) this.kick();
  }

  async drain(): Promise<void> {
    // Without this, rows added while a write was out (fewer than a batch) waited for a next
    // add() that never comes: drain() then waited forever and the map hung.
    this.draining = true;
    this.kick();
    await CancellationScope.nonCancellable(() => condition(() => !this.writing && this.pending.length === 0));
  }

  /** Workflow time (Date.now() in a workflow is the task's time): deterministic on replay. */
  private due(): boolean {
    if (this.pending.length >= ITEM_ROWS_PER_WRITE) return true;
    if (this.draining && this.pending.length > 0) return true;
    if (!this.live || this.pending.length === 0) return false;
    const now = Date.now();
    return now - this.lastWrite >= Math.max(LIVE_WRITE_INTERVAL_MS, (now - this.startedAt) / LIVE_SPACING_FRACTION);
  }

  private kick(): void {
    if (this.writing || this.pending.length === 0) return;
    this.writing = true;
    this.lastWrite = Date.now();
    const items = this.pending.splice(0, ITEM_ROWS_PER_WRITE);
    void CancellationScope.nonCancellable(() => itemsMirror.recordMapItems({ executionId: this.executionId, nodeId: this.nodeId, items, ...this.ranBy }))
      .catch(() => undefined) // a write that never lands must not fail the map
      .finally(() => {
        this.writing = false;
        if (this.due()) this.kick();
      });
  }
}

/** A slice of a map's items to run inside the current workflow. */
export interface ItemsJob {
  nodeId: string;
  body: Body;
  output?: string;
  /** The items of `[firstIndex, firstIndex + items.length)`. */
  items: readonly unknown[];
  firstIndex: number;
  /** Indexes not to run (retry from failure reuses their earlier results). */
  skip?: ReadonlySet<number>;
  /** Items in flight at once. */
  concurrency: number;
  /** Once more items than this failed, the rest are cancelled. */
  maxFailures: number;
  /** The enclosing graph's context (its `nodes`, `input`, `execution`). */
  context: ExpressionContext;
  /** Prefix of activity and child ids, e.g. `""` or `outer[3].` for a nested map. */
  idPrefix: string;
}

/**
 * Runs each item's body with a sliding window of `concurrency` items, in index order. Returns one
 * outcome per item started; items never started (the failure budget ran out) have none.
 * When the surrounding scope is cancelled every running item settles CANCELLED before this throws.
 */
/**
 * Items whose body is evaluated entirely in the workflow never wait on the server, so without a
 * pause all of them would run in one workflow task and blow its 10s timeout. A 1ms durable
 * timer after this many of them ends the task (5 history events per pause).
 */
const INLINE_ITEMS_PER_TASK = 25;

export async function runItems(job: ItemsJob, env: BodyEnv): Promise<ItemOutcome[]> {
  const outcomes: ItemOutcome[] = [];
  const sinks = sinkIds(job.body);
  const inlineOnly = job.body.nodes.every((n) => executionOf(n.type) === 'inline');
  const rows = new ItemRowWriter(job.context.execution.id, job.nodeId);
  let sinceTask = 0;
  const itemsScope = new CancellationScope({ cancellable: true });
  let running = 0;
  let failures = 0;
  let stopped = false;

  const finish = (outcome: ItemOutcome, startedAt: string): void => {
    running--;
    outcomes.push(outcome);
    rows.add({
      index: outcome.index,
      status: outcome.status,
      attempt: outcome.attempt ?? 0,
      output: outcome.output,
      error: outcome.error,
      startedAt,
      finishedAt: new Date().toISOString(),
    });
    if (outcome.status === 'FAILED' && ++failures > job.maxFailures && !stopped) {
      stopped = true;
      itemsScope.cancel();
    }
  };

  try {
    for (let offset = 0; offset < job.items.length; offset++) {
      const index = job.firstIndex + offset;
      if (job.skip?.has(index)) continue;
      await condition(() => running < job.concurrency || stopped);
      if (stopped) break;
      // [run-pause] no item starts while paused (nothing is awaited when not paused).
      const paused = env.pause?.wait();
      if (paused) await paused;
      if (stopped) break;
      if (inlineOnly && ++sinceTask > INLINE_ITEMS_PER_TASK) {
        sinceTask = 1;
        await sleep(1);
      }
      running++;
      const item = job.items[offset];
      const startedAt = new Date().toISOString();
      void itemsScope.run(() => runItem(job, item, index, sinks, env)).then(
        (outcome) => finish(outcome, startedAt),
        (err: unknown) => finish({ index, status: 'FAILED', ...describeFailure(err, () => 1) }, startedAt),
      );
    }
  } finally {
    // Shielded: on cancellation too, every started item settles (and is recorded) first.
    await CancellationScope.nonCancellable(() => condition(() => running === 0));
    await rows.drain();
  }
  return outcomes.sort((a, b) => a.index - b.index);
}

async function runItem(job: ItemsJob, item: unknown, index: number, sinks: string[], env: BodyEnv): Promise<ItemOutcome> {
  const base: BodyContext = { ...job.context, item, index };
  const body = await runBody(job.body, base, `${job.idPrefix}${job.nodeId}[${index}].`, env);
  if (body.status !== 'SUCCEEDED') return { index, status: body.status, error: body.error, attempt: body.attempt };
  try {
    const output = await bodyResult(body, base, sinks, job.output, env);
    return { index, status: 'SUCCEEDED', output, attempt: body.attempt };
  } catch (err) {
    return { index, status: 'FAILED', ...describeFailure(err, () => 1) };
  }
}

/** An item's (or iteration's) result: the `output` expression, or the sink rule. */
export async function bodyResult(
  body: BodyOutcome,
  base: BodyContext,
  sinks: readonly string[],
  output: string | undefined,
  env: BodyEnv,
): Promise<unknown> {
  if (output !== undefined) return env.compiler.evaluate(output, { ...base, nodes: { ...base.nodes, ...body.nodes } } as ExpressionContext);
  const outputs = new Map<string, unknown>();
  for (const id of sinks) if (body.nodes[id]?.status === 'SUCCEEDED') outputs.set(id, body.nodes[id]!.output);
  return sinkResult(sinks, outputs);
}
