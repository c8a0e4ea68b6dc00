import { CancellationScope, condition } from '@temporalio/workflow';
import type { ExpressionContext } from '../domain/expressions';
import { sinkIds, sinkResult, type Body, type ItemOutcome } from '../domain/iteration';
import { runBody, type BodyContext, type BodyEnv, type BodyOutcome } from './body-run';
import { describeFailure } from './failures';

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
export async function runItems(job: ItemsJob, env: BodyEnv): Promise<ItemOutcome[]> {
  const outcomes: ItemOutcome[] = [];
  const sinks = sinkIds(job.body);
  const itemsScope = new CancellationScope({ cancellable: true });
  let running = 0;
  let failures = 0;
  let stopped = false;

  const finish = (outcome: ItemOutcome): void => {
    running--;
    outcomes.push(outcome);
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
      running++;
      const item = job.items[offset];
      void itemsScope
        .run(() => runItem(job, item, index, sinks, env))
        .then(finish, (err: unknown) => finish({ index, status: 'FAILED', ...describeFailure(err, () => 1) }));
    }
  } finally {
    // Shielded: on cancellation too, every started item settles (and is recorded) first.
    await CancellationScope.nonCancellable(() => condition(() => running === 0));
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
