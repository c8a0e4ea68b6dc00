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
 * The run's own timers (runTimeout, its grace), each in a scope of its own below the root. A
 * Temporal cancellation cancels them too (shielding them would need a non-cancellable scope
 * between, whose propagation rules depend on an SDK flag not every server records).
 */
export class RunTimer {
  private readonly scopes: CancellationScope[] = [];

  constructor(private readonly parent: CancellationScope) {}

  after(ms: number, fire: () => void): void {
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
