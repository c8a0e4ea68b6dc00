import type { Db } from '../db/client';
import type { TemporalGateway, RunDescription } from '../temporal/gateway';
import type { TerminalExecutionStatus } from '../domain/status';
import { claimStaleExecutions, settleEndedExecution, type StaleExecution } from '../mirror';
import { withTimeout } from '../util/timeout';

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
  /** A `describe` slower than this is given up for this pass (the row is looked at again next pass). */
  describeTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Brings runs that ended outside the workflow (terminated, timed out, lost) into the mirror.
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
    let description: RunDescription | undefined;
    try {
      description = await withTimeout(temporal.describe(row.id), describeTimeoutMs, `describe ${row.id} timed out after ${describeTimeoutMs} ms`);
    } catch (err) {
      failure ??= err; // Temporal slow or away: this row waits for the next pass
      return;
    }
    if (await settle(db, row, description, lostAfterMs)) fixed++;
  });
  if (failure !== undefined) options.onError?.(failure);
  return fixed;
}

/** Writes the verdict for one claimed row; true when the mirror changed. Still-running rows stay as claimed. */
async function settle(db: Db, row: StaleExecution, description: RunDescription | undefined, lostAfterMs: number): Promise<boolean> {
  if (!description) {
    if (Date.now() - row.createdAt.getTime() < lostAfterMs) return false;
    return settleEndedExecution(db, {
      id: row.id,
      seenSeq: row.lastSeq,
      status: 'FAILED',
      finishedAt: new Date(),
      error: { type: 'Lost', message: 'Temporal has no run with this id' },
    });
  }
  const outcome = CLOSED[description.status];
  if (!outcome) return false; // still running; the claim already moved it to the back of the queue
  return settleEndedExecution(db, {
    id: row.id,
    seenSeq: row.lastSeq,
    status: outcome.status,
    finishedAt: description.closeTime ?? new Date(),
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

/** Runs reconcileOnce on an interval until stopped. */
export function startReconciler(options: ReconcilerOptions): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => reconcileOnce(options)).catch((err) => options.onError?.(err));
  }, options.intervalMs ?? 5_000);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
