import { CancellationScope, proxyActivities, sleep } from '@temporalio/workflow';
import type { ExpressionContext } from '../domain/expressions';
import { durationMs } from '../domain/duration';
import { sinkIds, type LoopConfig } from '../domain/iteration';
import { executionOf } from '../domain/node-types';
import { runBody, type BodyContext, type BodyEnv } from './body-run';
import type { LoopProgress } from '../contracts/iteration-workflows';
import { bodyResult, rowsWrittenBy } from './map-items';
import type { MapItemsActivities } from '../contracts/map-items';
import type { Settled } from '../contracts/settled';

const INLINE_ITERATIONS_PER_TASK = 25;

const itemsMirror = proxyActivities<MapItemsActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '15s', maximumAttempts: 20 },
});

/** Either the loop ended (`settled`) or it stopped to continue as new (`progress`). */
export interface LoopStep {
  settled?: Settled;
  progress: LoopProgress;
}

/**
 * Runs iterations from `progress` on: the body, then `until` (seeing the iteration's nodes and
 * `iteration`), then the durable `interval` timer. Stops early, between iterations, when
 * `shouldStop` says the history is long enough to continue as new.
 */
export async function runLoopIterations(
  nodeId: string,
  config: LoopConfig,
  context: ExpressionContext,
  idPrefix: string,
  env: BodyEnv,
  progress: LoopProgress,
  shouldStop: () => boolean,
): Promise<LoopStep> {
  const sinks = sinkIds(config.body);
  const keep = config.keepLast ?? 0;
  // Like inline-only map items: without a pause a loop that never waits on the server would run
  // all its iterations in one workflow task, past its 10s timeout.
  const neverWaits = config.interval === undefined && config.body.nodes.every((n) => executionOf(n.type) === 'inline');
  let { iteration, last, kept } = progress;
  // keepLast: the last iterations' results ride along as `recent`, so the mirror shows them.
  const outputOf = () => ({ iterations: iteration, last, ...(keep > 0 && { recent: kept }) });
  for (;;) {
    if (iteration > 0 && config.interval !== undefined) await sleep(durationMs(config.interval));
    else if (neverWaits && iteration > 0 && iteration % INLINE_ITERATIONS_PER_TASK === 0) await sleep(1);
    // [run-pause] no iteration starts while paused (the interval timer above kept counting).
    const paused = env.pause?.wait();
    if (paused) await paused;
    iteration++;
    const base: BodyContext = { ...context, iteration };
    const body = await runBody(config.body, base, `${idPrefix}${nodeId}#${iteration}.`, env);
    if (body.status !== 'SUCCEEDED') {
      const error = body.status === 'FAILED' ? { ...body.error!, message: `iteration ${iteration}: ${body.error!.message}` } : body.error;
      return { settled: { status: body.status, output: outputOf(), error, attempt: body.attempt }, progress: { iteration, last, kept } };
    }
    last = await bodyResult(body, base, sinks, undefined, env);
    if (keep > 0) {
      kept = [...kept, { iteration, result: last }].slice(-keep);
      // The mirror keeps the last `keepLast` iterations as item rows (index = iteration).
      const row = { index: iteration, status: 'SUCCEEDED' as const, attempt: body.attempt, output: last, finishedAt: new Date().toISOString() };
      await CancellationScope.nonCancellable(() =>
        itemsMirror.recordMapItems({ executionId: context.execution.id, nodeId, items: [row], keepLast: keep, ...rowsWrittenBy() }).catch(() => undefined),
      );
    }
    const done = await env.compiler.evaluate(config.until, { ...base, nodes: { ...base.nodes, ...body.nodes } } as ExpressionContext);
    if (done === true) return { settled: { status: 'SUCCEEDED', output: outputOf(), attempt: 1 }, progress: { iteration, last, kept } };
    if (iteration >= config.maxIterations) {
      return {
        settled: {
          status: 'FAILED',
          output: outputOf(),
          attempt: 1,
          error: { type: 'LoopLimitExceeded', message: `loop "${nodeId}" reached maxIterations (${config.maxIterations}) before "until" held`, nodeId },
        },
        progress: { iteration, last, kept },
      };
    }
    if (shouldStop()) return { progress: { iteration, last, kept } };
  }
}
