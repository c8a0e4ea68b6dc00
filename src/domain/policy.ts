import { ANY_ERROR, type NodeDef, type RetrierSpec, type RetryOrList, type RetrySpec, type TimeoutSpec, type WorkflowDefinition } from './definition';
import { durationMs } from './duration';

/** Platform defaults, overridden by a definition's `defaults`, overridden by the node's own. */
export const PLATFORM_RETRY: Required<Omit<RetrySpec, 'nonRetryableErrorTypes'>> = {
  maximumAttempts: 3,
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
};
/**
 * How often a node activity heartbeats (the worker sends at most one heartbeat per this
 * interval), and the heartbeat timeout every activity node gets unless it sets its own: five
 * missed heartbeats. Without it Temporal notices a dead worker's attempt only at startToClose;
 * with it the attempt is retried on a live worker within about heartbeat + initialInterval.
 */
export const NODE_HEARTBEAT_INTERVAL_MS = 1_000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 5 * NODE_HEARTBEAT_INTERVAL_MS;
export const PLATFORM_TIMEOUT: TimeoutSpec = { startToClose: '5m', heartbeat: DEFAULT_HEARTBEAT_TIMEOUT_MS };
export const DEFAULT_MAX_CONCURRENCY = 500;
/** The longest `runTimeout` a definition or a start may ask for. */
export const MAX_RUN_TIMEOUT_MS = 30 * 86_400_000;
/** After `runTimeout`, cleanup nodes get this long before they are cancelled too. */
export const RUN_TIMEOUT_GRACE_MS = 5_000;
/** Beyond the grace: time for the run's final mirror writes before Temporal times the execution out. */
export const RUN_TIMEOUT_MARGIN_MS = 5_000;

/**
 * The Temporal execution timeout that backs a run's `runTimeout`: the workflow itself stops the
 * run at `runTimeout` and runs cleanup within the grace; Temporal then ends the execution
 * TIMED_OUT, so the Web UI and the mirror agree.
 */
export function executionTimeoutFor(runTimeout: string | number | undefined): number | undefined {
  if (runTimeout === undefined) return undefined;
  return durationMs(runTimeout) + RUN_TIMEOUT_GRACE_MS + RUN_TIMEOUT_MARGIN_MS;
}

/** Activity options in Temporal's shape (milliseconds), without a Temporal import. */
export interface ResolvedActivityPolicy {
  retry: {
    maximumAttempts: number;
    initialInterval: number;
    backoffCoefficient: number;
    maximumInterval: number;
    nonRetryableErrorTypes?: string[];
  };
  startToCloseTimeout?: number;
  scheduleToCloseTimeout?: number;
  scheduleToStartTimeout?: number;
  heartbeatTimeout?: number;
  /**
   * Set when `retry` is a list: Temporal then makes one attempt per activity (`retry` above) and
   * the workflow picks a retrier per failure type (see nextRetryDelay).
   */
  retriers?: ResolvedRetrier[];
}

/** One retrier of a retry list, durations in milliseconds. */
export interface ResolvedRetrier {
  errors: string[];
  maximumAttempts: number;
  initialInterval: number;
  backoffCoefficient: number;
  maximumInterval: number;
}

export function resolveActivityPolicy(
  node: Pick<NodeDef, 'retry' | 'timeout'>,
  defaults: WorkflowDefinition['defaults'] = {},
): ResolvedActivityPolicy {
  const list = retryList(node.retry, defaults.retry);
  const timeout: TimeoutSpec = { ...PLATFORM_TIMEOUT, ...defaults.timeout, ...node.timeout };
  // One attempt per activity; the workflow retries per retrier (nextRetryDelay).
  if (list) return withTimeouts({ retry: resolveRetry({ maximumAttempts: 1 }), retriers: list }, timeout);
  const retry = { ...PLATFORM_RETRY, ...(defaults.retry as RetrySpec | undefined), ...(node.retry as RetrySpec | undefined) };
  const policy: ResolvedActivityPolicy = { retry: resolveRetry(retry) };
  if (retry.nonRetryableErrorTypes) policy.retry.nonRetryableErrorTypes = [...retry.nonRetryableErrorTypes];
  return withTimeouts(policy, timeout);
}

function withTimeouts(policy: ResolvedActivityPolicy, timeout: TimeoutSpec): ResolvedActivityPolicy {
  if (timeout.startToClose !== undefined) policy.startToCloseTimeout = durationMs(timeout.startToClose);
  if (timeout.scheduleToClose !== undefined) policy.scheduleToCloseTimeout = durationMs(timeout.scheduleToClose);
  if (timeout.scheduleToStart !== undefined) policy.scheduleToStartTimeout = durationMs(timeout.scheduleToStart);
  if (timeout.heartbeat !== undefined) policy.heartbeatTimeout = durationMs(timeout.heartbeat);
  return policy;
}

function resolveRetry(spec: Omit<RetrySpec, 'nonRetryableErrorTypes'>): ResolvedActivityPolicy['retry'] {
  const retry = { ...PLATFORM_RETRY, ...spec };
  return {
    maximumAttempts: retry.maximumAttempts,
    initialInterval: durationMs(retry.initialInterval),
    backoffCoefficient: retry.backoffCoefficient,
    maximumInterval: durationMs(retry.maximumInterval),
  };
}

/**
 * The node's retry list, if it has one (its own, or the defaults' when it has no `retry`).
 * Each retrier's missing fields come from an object-form `defaults.retry`, then the platform.
 */
function retryList(own: RetryOrList | undefined, defaults: RetryOrList | undefined): ResolvedRetrier[] | undefined {
  const list = Array.isArray(own) ? own : own === undefined && Array.isArray(defaults) ? defaults : undefined;
  if (!list) return undefined;
  const base: Omit<RetrySpec, 'nonRetryableErrorTypes'> = {};
  if (defaults !== undefined && !Array.isArray(defaults)) {
    const { nonRetryableErrorTypes: _ignored, ...fields } = defaults;
    Object.assign(base, fields);
  }
  return list.map(({ errors, ...fields }: RetrierSpec) => ({ errors: [...errors], ...resolveRetry({ ...base, ...fields }) }));
}

/**
 * Workflow-driven retry for a retry list. A failure picks the first retrier naming its type,
 * else the `"*"` retrier (which never retries a failure its activity marked non-retryable);
 * that retrier's `maximumAttempts` counts every attempt of the node so far (0 = unlimited).
 * Returns the wait before the next attempt, or undefined when the node fails now. The wait
 * grows with the node's attempt count: initialInterval × backoffCoefficient^(attempt − 1),
 * capped at maximumInterval.
 */
export function nextRetryDelay(
  retriers: readonly ResolvedRetrier[],
  failure: { type: string; nonRetryable: boolean },
  attempt: number,
): number | undefined {
  const named = retriers.find((r) => r.errors.includes(failure.type));
  const retrier = named ?? (failure.nonRetryable ? undefined : retriers.find((r) => r.errors.includes(ANY_ERROR)));
  if (!retrier) return undefined;
  if (retrier.maximumAttempts > 0 && attempt >= retrier.maximumAttempts) return undefined;
  const delay = retrier.initialInterval * retrier.backoffCoefficient ** Math.max(0, attempt - 1);
  return Math.min(delay, retrier.maximumInterval);
}
