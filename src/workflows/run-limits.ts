import { CancellationScope, condition, sleep, workflowInfo } from '@temporalio/workflow';
import { parseDuration } from '../domain/duration';
import { MAX_RUN_TIMEOUT_MS, RUN_TIMEOUT_GRACE_MS, RUN_TIMEOUT_MARGIN_MS } from '../domain/policy';

/** A run's `runTimeout` in milliseconds (start override or definition); anything unusable is none. */
export function runTimeoutMs(value: string | number | undefined): number | undefined {
  const ms = value === undefined ? undefined : parseDuration(value);
  if (ms === undefined || ms <= 0) return undefined;
  // Measured from the execution's start, so a run resumed by a new worker keeps its deadline.
  const elapsed = Date.now() - workflowInfo().startTime.getTime();
  return Math.max(1, Math.min(ms, MAX_RUN_TIMEOUT_MS) - elapsed);
}

/**
 * The run's own timers (runTimeout, its grace). They live outside the root scope so that a
 * Temporal cancellation, which stops the run like a cancel request, does not stop them: the
 * deadline still bounds the cleanup that follows.
 */
export class RunTimer {
  private parent?: CancellationScope;
  private readonly scopes: CancellationScope[] = [];

  after(ms: number, fire: () => void): void {
    this.parent ??= new CancellationScope({ cancellable: false });
    const scope = new CancellationScope({ cancellable: true, parent: this.parent });
    this.scopes.push(scope);
    scope.run(() => sleep(ms)).then(fire, () => undefined);
  }

  /** The run is over: pending timers go (a fired one is left alone). */
  cancel(): void {
    for (const scope of this.scopes.splice(0)) scope.cancel();
  }
}

/**
 * A timed-out run has recorded its result; Temporal ends the execution TIMED_OUT when its
 * execution timeout (set at start just past runTimeout, grace and margin) passes. Returns at
 * once when there is no such timeout close by (a start that did not set it): the caller then
 * fails the execution with a RunTimedOut failure instead.
 */
export async function awaitExecutionTimeout(): Promise<void> {
  const info = workflowInfo();
  if (info.executionTimeoutMs === undefined) return;
  const remaining = info.startTime.getTime() + info.executionTimeoutMs - Date.now();
  if (remaining > 2 * (RUN_TIMEOUT_GRACE_MS + RUN_TIMEOUT_MARGIN_MS)) return;
  await CancellationScope.nonCancellable(() => condition(() => false));
}
