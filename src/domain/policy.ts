import type { NodeDef, RetrySpec, TimeoutSpec, WorkflowDefinition } from './definition';
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
}

export function resolveActivityPolicy(
  node: Pick<NodeDef, 'retry' | 'timeout'>,
  defaults: WorkflowDefinition['defaults'] = {},
): ResolvedActivityPolicy {
  const retry = { ...PLATFORM_RETRY, ...defaults.retry, ...node.retry };
  const timeout: TimeoutSpec = { ...PLATFORM_TIMEOUT, ...defaults.timeout, ...node.timeout };
  const policy: ResolvedActivityPolicy = {
    retry: {
      maximumAttempts: retry.maximumAttempts,
      initialInterval: durationMs(retry.initialInterval),
      backoffCoefficient: retry.backoffCoefficient,
      maximumInterval: durationMs(retry.maximumInterval),
    },
  };
  if (retry.nonRetryableErrorTypes) policy.retry.nonRetryableErrorTypes = [...retry.nonRetryableErrorTypes];
  if (timeout.startToClose !== undefined) policy.startToCloseTimeout = durationMs(timeout.startToClose);
  if (timeout.scheduleToClose !== undefined) policy.scheduleToCloseTimeout = durationMs(timeout.scheduleToClose);
  if (timeout.scheduleToStart !== undefined) policy.scheduleToStartTimeout = durationMs(timeout.scheduleToStart);
  if (timeout.heartbeat !== undefined) policy.heartbeatTimeout = durationMs(timeout.heartbeat);
  return policy;
}
