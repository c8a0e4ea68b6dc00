import type { PendingActivity, TemporalGateway } from '../temporal/gateway';
import { withTimeout } from '../util/timeout';
import type { WaitingFor } from '../domain/flow-control';

/** How often a run's open streams learn from Temporal about nodes that are retrying. */
export const RETRY_POLL_MS = 2_000;

/** Temporal's view of a node between attempts (the SSE `retry` event's data). */
export interface RetryState {
  nodeId: string;
  state: string;
  attempt: number;
  maximumAttempts: number;
  lastFailure: NonNullable<PendingActivity['lastFailure']> | null;
  nextAttemptAt: string | null;
  /** Set while the attempt waits at its worker for its tenant's share; null once it no longer does. */
  waitingFor?: WaitingFor | null;
}

type Listener = (states: RetryState[]) => void;

interface Poll {
  listeners: Set<Listener>;
  timer: NodeJS.Timeout;
  inFlight: boolean;
  /** Nodes the last answer showed waiting for their tenant's share (their end of the wait is sent too). */
  waiting?: Set<string>;
}

/**
 * One Temporal describe per run and period for every stream of that run on this process: the
 * first subscriber starts the run's poll, the last one to leave stops it, and each answer is
 * fanned out to all of them. (Each stream used to poll for itself: 500 streams on one run were
 * 250 describes a second, and slowed every other tenant's reads.)
 */
export class LivePoller {
  private readonly polls = new Map<string, Poll>();

  constructor(
    private readonly temporal: TemporalGateway,
    readonly intervalMs = RETRY_POLL_MS,
  ) {}

  /** Calls `listener` with the run's retrying nodes after each poll; returns the unsubscribe (idempotent). */
  subscribe(executionId: string, listener: Listener): () => void {
    let poll = this.polls.get(executionId);
    if (!poll) {
      const started: Poll = { listeners: new Set(), inFlight: false, timer: setInterval(() => this.tick(executionId, started), this.intervalMs) };
      started.timer.unref();
      this.polls.set(executionId, started);
      poll = started;
    }
    const own = poll;
    // A wrapper per subscription, so one listener subscribed twice is two subscribers.
    const entry: Listener = (states) => listener(states);
    own.listeners.add(entry);
    return () => {
      if (!own.listeners.delete(entry) || own.listeners.size > 0) return;
      clearInterval(own.timer);
      if (this.polls.get(executionId) === own) this.polls.delete(executionId);
    };
  }

  /** Runs being polled on this process (for tests and metrics). */
  get activeRuns(): number {
    return this.polls.size;
  }

  private tick(executionId: string, poll: Poll): void {
    // A describe slower than the period is not stacked under the next one.
    if (poll.inFlight) return;
    poll.inFlight = true;
    withTimeout(this.temporal.describe(executionId), this.intervalMs)
      .then((description) => {
        const states: RetryState[] = [];
        const waiting = new Set<string>();
        for (const p of description?.pendingActivities ?? []) {
          if (p.waitingFor) waiting.add(p.activityId);
          const waitEnded = !p.waitingFor && poll.waiting?.has(p.activityId) === true;
          // A first attempt with no failure yet is just "running", unless it waits or just stopped waiting.
          if (p.attempt <= 1 && !p.lastFailure && !p.waitingFor && !waitEnded) continue;
          states.push({
            nodeId: p.activityId,
            state: p.state,
            attempt: p.attempt,
            maximumAttempts: p.maximumAttempts,
            lastFailure: p.lastFailure ?? null,
            nextAttemptAt: p.nextAttemptAt ? p.nextAttemptAt.toISOString() : null,
            ...(p.waitingFor ? { waitingFor: p.waitingFor } : waitEnded && { waitingFor: null }),
          });
        }
        poll.waiting = waiting;
        for (const listener of [...poll.listeners]) {
          try {
            listener(states);
          } catch {
            // One stream's write failing (its socket went away) must not starve the others.
          }
        }
      })
      .catch(() => undefined) // Temporal slow or away: the mirror's events still flow
      .finally(() => {
        poll.inFlight = false;
      });
  }
}
