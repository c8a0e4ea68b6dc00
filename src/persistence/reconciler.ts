import type { Db } from '../db/client';
import type { TemporalGateway } from '../temporal/gateway';
import type { TerminalExecutionStatus } from '../domain/status';
import { claimStaleExecutions, settleEndedExecution, type StaleExecution } from '../mirror';
import { withTimeout } from '../util/timeout';
import { LeaderLock } from '../db/leader-lock';

/** Temporal's closed statuses, mapped to the run status the mirror shows. */
const CLOSED: Record<string, { status: TerminalExecutionStatus; type: string; message: string }> = {
  TERMINATED: { status: 'CANCELLED', type: 'Terminated', message: 'terminated in Temporal' },
  TIMED_OUT: { status: 'TIMED_OUT', type: 'TimedOut', message: 'the run hit its Temporal execution timeout' },
  CANCELLED: { status: 'CANCELLED', type: 'Cancelled', message: 'cancelled in Temporal' },
  FAILED: { status: 'FAILED', type: 'WorkflowFailed', message: 'the workflow failed before it could record its result' },
  COMPLETED: { status: 'SUCCEEDED', type: '', message: '' },
};

export interface ReconcilerOptions {
  db: Db;
  temporal: TemporalGateway;
  /** How often to look; runs that ended outside the workflow show up within about this long. */
  intervalMs?: number;
  /** Leave rows alone this long after their last mirror write (the workflow may still be writing). */
  graceMs?: number;
  /** A run Temporal does not know after this long is marked FAILED (lost). */
  lostAfterMs?: number;
  batchSize?: number;
  /** Temporal `describe` calls in flight at once. */
  concurrency?: number;
  /** A Temporal call (visibility, describe) slower than this is given up for this pass (the row is looked at again next pass). */
  describeTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Brings runs that ended outside the workflow (terminated, timed out, lost) into the mirror:
 * only runs Temporal's visibility lists as closed are settled (with its status and close time),
 * and a run is "lost" only when visibility lists none and its history does not exist either.
 * No transaction spans a network call: the candidates are claimed in one statement, Temporal is
 * asked outside any transaction (bounded concurrency, a timeout per call), and each verdict is
 * one conditional statement that loses to any mirror write that landed meanwhile. Any number of
 * processes may run it: each claims different rows. Returns how many runs it settled.
 */
export async function reconcileOnce(options: ReconcilerOptions): Promise<number> {
  const { db, temporal } = options;
  const graceMs = options.graceMs ?? 3_000;
  const lostAfterMs = options.lostAfterMs ?? 120_000;
  const describeTimeoutMs = options.describeTimeoutMs ?? 10_000;
  const candidates = await claimStaleExecutions(db, new Date(Date.now() - graceMs), options.batchSize ?? 100);
  let fixed = 0;
  let failure: unknown;
  await forEachLimited(candidates, options.concurrency ?? 8, async (row) => {
    try {
      const ask = <T>(call: Promise<T>, what: string) => withTimeout(call, describeTimeoutMs, `${what} ${row.id} timed out after ${describeTimeoutMs} ms`);
      const listed = await ask(temporal.listedRun(row.id), 'visibility of');
      if (listed) {
        if (await settleClosed(db, row, listed)) fixed++;
        return;
      }
      // Visibility lists no run: lost only if Temporal's history has none either (visibility
      // lags a fresh start), and only after lostAfterMs.
      if (Date.now() - row.createdAt.getTime() < lostAfterMs) return;
      if ((await ask(temporal.describe(row.id), 'describe')) !== undefined) return;
      const lost = await settleEndedExecution(db, {
        id: row.id,
        seenSeq: row.lastSeq,
        status: 'FAILED',
        finishedAt: new Date(),
        error: { type: 'Lost', message: 'Temporal has no run with this id' },
      });
      if (lost) fixed++;
    } catch (err) {
      failure ??= err; // Temporal slow or away: this row waits for the next pass
    }
  });
  if (failure !== undefined) options.onError?.(failure);
  return fixed;
}

/**
 * Writes the verdict for a claimed row whose run visibility lists as closed; true when the
 * mirror changed. Only visibility's word settles a run: a run it still lists as running (or a
 * status it does not call closed) stays as claimed, and is looked at again next pass.
 */
async function settleClosed(db: Db, row: StaleExecution, listed: { status: string; closeTime?: Date }): Promise<boolean> {
  const outcome = CLOSED[listed.status];
  if (!outcome) return false;
  return settleEndedExecution(db, {
    id: row.id,
    seenSeq: row.lastSeq,
    status: outcome.status,
    finishedAt: listed.closeTime ?? new Date(),
    ...(outcome.type && { error: { type: outcome.type, message: outcome.message } }),
  });
}

async function forEachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(lanes);
}

/**
 * Runs reconcileOnce on an interval until stopped. With `leaderLockUrl` (the worker), only the
 * process holding the deployment's reconciler lock works (see LeaderLock); the others try
 * to take it each interval, so one takes over within an interval of the holder's death.
 */
export function startReconciler(options: ReconcilerOptions & { leaderLockUrl?: string }): { stop(): Promise<void>; isLeader(): boolean } {
  const lock = options.leaderLockUrl === undefined ? undefined : new LeaderLock(options.leaderLockUrl, 'reconciler');
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const pass = async () => {
    if (stopped || (lock && !(await lock.acquire()))) return;
    await reconcileOnce(options);
  };
  const timer = setInterval(() => {
    running = running.then(pass).catch((err) => options.onError?.(err));
  }, options.intervalMs ?? 5_000);
  return {
    isLeader: () => lock?.isHeld ?? true,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await lock?.release();
    },
  };
}
