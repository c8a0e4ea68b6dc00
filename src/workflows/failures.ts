import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, TimeoutFailure } from '@temporalio/workflow';
import type { ErrorInfo } from '../domain/definition';
import { ExpressionError } from '../domain/expressions';

/** What a node's failure tells the run: the error to record and, when known, the attempt. */
export interface NodeFailure {
  error: ErrorInfo;
  attempt?: number;
}

/**
 * Turns whatever a node threw into the error kept on the node. `maxAttempts` is the node's retry
 * bound, the attempt count when Temporal gave up after timeouts (no activity reported it).
 */
export function describeFailure(err: unknown, maxAttempts: () => number): NodeFailure {
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    let failure: NodeFailure;
    if (cause instanceof ApplicationFailure) {
      const detail = (cause.details?.[0] ?? {}) as { attempt?: number };
      failure = { error: { type: cause.type ?? 'Error', message: cause.message, details: cause.details?.[0] }, attempt: detail.attempt };
    } else if (cause instanceof TimeoutFailure) {
      failure = {
        error: { type: 'ActivityTimeout', message: `activity timed out (${cause.timeoutType})`, details: { timeoutType: cause.timeoutType } },
      };
    } else {
      failure = { error: { type: cause?.name ?? 'ActivityFailure', message: cause?.message ?? err.message } };
    }
    if (failure.attempt === undefined && err.retryState === 'MAXIMUM_ATTEMPTS_REACHED') failure.attempt = maxAttempts();
    return failure;
  }
  if (err instanceof TimeoutFailure) {
    // A local activity's timeout arrives unwrapped; startToClose is always retried, so ending on
    // it means the retries ran out.
    return {
      error: { type: 'ActivityTimeout', message: `activity timed out (${err.timeoutType})`, details: { timeoutType: err.timeoutType } },
      ...(err.timeoutType === 'START_TO_CLOSE' && { attempt: maxAttempts() }),
    };
  }
  if (err instanceof ChildWorkflowFailure) {
    // The child's own reason may sit below an ActivityFailure (e.g. its definition did not load).
    let cause: unknown = err.cause;
    if (cause instanceof TimeoutFailure) {
      return { error: { type: 'SubworkflowTimeout', message: `child run ${err.execution.workflowId} timed out (timeout.startToClose)` } };
    }
    while (cause instanceof Error && !(cause instanceof ApplicationFailure) && cause.cause) cause = cause.cause;
    const reason = cause instanceof Error ? cause : err.cause;
    return {
      error: {
        type: reason instanceof ApplicationFailure ? (reason.type ?? 'ChildFailed') : reason instanceof TimeoutFailure ? 'ChildTimeout' : 'ChildFailed',
        message: reason?.message ?? err.message,
      },
    };
  }
  if (err instanceof ApplicationFailure) {
    // A local activity's failure arrives unwrapped (no ActivityFailure); its details carry the attempt.
    const attempt = (err.details?.[0] as { attempt?: unknown } | undefined)?.attempt;
    return {
      error: { type: err.type ?? 'Error', message: err.message, ...(err.details?.length ? { details: err.details[0] } : {}) },
      ...(typeof attempt === 'number' && { attempt }),
    };
  }
  if (err instanceof ExpressionError) return { error: { type: err.name, message: err.message, ...(err.limit && { details: { limit: err.limit } }) } };
  const e = err as Error;
  return { error: { type: e?.name ?? 'Error', message: e?.message ?? String(err) } };
}
