import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { NodeActivityInput } from '../contracts/node-activity';
import type { NodeAttemptWrite } from '../mirror';

/**
 * Failed attempts, as the worker that ran them saw them: Temporal retries an activity without
 * telling the workflow, which learns only the last failure, so the worker that ran an attempt is
 * the only one that can keep the history of a node that failed twice before it succeeded.
 * Written in the background (node-result-mirror.ts): never delaying or failing the node.
 */

/** Rows written per statement, and rows kept waiting at most (older ones are dropped). */
const MAX_BATCH = 200;
const MAX_WAITING = 2_000;

/**
 * The failed attempt to record, or undefined when there is none to keep: a cancellation the run
 * asked for is not a failure, and a map or loop body's node (activity id `each[3].charge`) is
 * an item's business (its item row keeps its error). A local activity has no activity id of
 * its own; it is taken for a top-level node (a body's local node is kept under its body node id,
 * which no top-level node shares, and not shown).
 */
export function failedAttempt(input: NodeActivityInput, err: unknown, startedAt: number): NodeAttemptWrite | undefined {
  const ctx = currentContext();
  if (ctx && !ctx.info.isLocal && ctx.info.activityId !== input.nodeId) return undefined;
  const late = lateAttempt(input, startedAt);
  if (late) return late;
  const detail = err instanceof ApplicationFailure ? (err.details?.[0] as { attempt?: unknown } | undefined) : undefined;
  const attempt = typeof detail?.attempt === 'number' ? detail.attempt : attemptOf(input, ctx);
  let type: string;
  let message: string;
  if (err instanceof CancelledFailure) {
    const why = ctx?.cancellationDetails;
    if (why?.timedOut) [type, message] = ['ActivityTimeout', `attempt ${attempt} timed out`];
    else if (why?.workerShutdown) [type, message] = ['WorkerShutdown', `the worker shut down during attempt ${attempt}`];
    else return undefined;
  } else if (err instanceof ApplicationFailure) {
    [type, message] = [err.type ?? 'Error', err.message];
  } else {
    const error = err instanceof Error ? err : new Error(String(err));
    [type, message] = [error.name, error.message];
  }
  return { executionId: input.executionId, nodeId: input.nodeId, attempt, type, message, failedAt: new Date().toISOString() };
}

/**
 * An attempt that ran past its startToClose: Temporal failed it with a timeout (and retries or
 * fails the node) whatever the activity did afterwards. The worker does not abort such an
 * attempt, so its end, when it comes, is the only moment this side learns of the timeout.
 */
export function lateAttempt(input: NodeActivityInput, startedAt: number): NodeAttemptWrite | undefined {
  const ctx = currentContext();
  const limit = ctx?.info.startToCloseTimeoutMs ?? 0;
  const elapsed = Date.now() - startedAt;
  if (!ctx || limit <= 0 || elapsed < limit) return undefined;
  if (!ctx.info.isLocal && ctx.info.activityId !== input.nodeId) return undefined;
  const attempt = attemptOf(input, ctx);
  return {
    executionId: input.executionId,
    nodeId: input.nodeId,
    attempt,
    type: 'ActivityTimeout',
    message: `attempt ${attempt} timed out (startToClose ${limit} ms; it ran ${elapsed} ms)`,
    failedAt: new Date(startedAt + limit).toISOString(),
  };
}

function attemptOf(input: NodeActivityInput, ctx: Context | undefined): number {
  return (input.priorAttempts ?? 0) + (ctx?.info.attempt ?? 1);
}

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (tests calling the wrapped function directly)
  }
}

/** A queue of rows written in the background, MAX_BATCH per statement, one statement at a time. */
export class BackgroundWriter<T> {
  private readonly waiting: T[] = [];
  private flushing: Promise<void> | undefined;
  private lastReport = -Infinity;

  constructor(
    private readonly write: (batch: T[]) => Promise<void>,
    private readonly onError: (err: unknown) => void,
    /** Told of the oldest rows dropped when more than MAX_WAITING wait. */
    private readonly onDrop: (rows: T[]) => void = () => {},
  ) {}

  add(row: T): void {
    this.waiting.push(row);
    if (this.waiting.length > MAX_WAITING) this.onDrop(this.waiting.splice(0, this.waiting.length - MAX_WAITING));
    this.kick();
  }

  /** Whether a statement is out now (a row added now shares the next one with others). */
  get busy(): boolean {
    return this.flushing !== undefined;
  }

  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      if (this.waiting.length > 0) this.kick(); // queued after the loop's last look
    });
  }

  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      try {
        await this.write(batch);
      } catch (err) {
        // Reported at most once a minute: while Postgres is down every write fails, and that is expected.
        if (Date.now() - this.lastReport >= 60_000) {
          this.lastReport = Date.now();
          this.onError(err);
        }
      }
    }
  }
}
