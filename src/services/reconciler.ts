import type { Db } from '../db/client';
import type { TemporalGateway } from '../temporal/gateway';
import { EVENTS_CHANNEL } from '../activities/mirror';

/** Temporal's closed statuses, mapped to the run status the mirror shows. */
const CLOSED: Record<string, { status: 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT'; type: string; message: string }> = {
  TERMINATED: { status: 'CANCELLED', type: 'Terminated', message: 'terminated in Temporal' },
  TIMED_OUT: { status: 'TIMED_OUT', type: 'TimedOut', message: 'the run hit its Temporal execution timeout' },
  CANCELLED: { status: 'CANCELLED', type: 'Cancelled', message: 'cancelled in Temporal' },
  FAILED: { status: 'FAILED', type: 'WorkflowFailed', message: 'the workflow failed before it could record its result' },
  COMPLETED: { status: 'SUCCEEDED', type: '', message: '' },
};

/** Written by the reconciler, it outranks any mirror write that might still arrive. */
const FINAL_SEQ = 2_147_483_647;
const LOCK_KEY = 7_351_294_114;

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
  onError?: (err: unknown) => void;
}

/**
 * Brings runs that ended outside the workflow (terminated, timed out, lost) into the mirror.
 * Any number of processes may run it: one pass at a time holds a transaction-scoped advisory
 * lock, and every write is conditional on the row still being RUNNING.
 */
export async function reconcileOnce(options: ReconcilerOptions): Promise<number> {
  const { db, temporal } = options;
  const graceMs = options.graceMs ?? 3_000;
  const lostAfterMs = options.lostAfterMs ?? 120_000;
  return db.$transaction(
    async (tx) => {
      const [{ locked }] = await tx.$queryRaw<[{ locked: boolean }]>`SELECT pg_try_advisory_xact_lock(${LOCK_KEY}::bigint) AS locked`;
      if (!locked) return 0;
      const candidates = await tx.execution.findMany({
        where: { status: 'RUNNING', updatedAt: { lt: new Date(Date.now() - graceMs) } },
        orderBy: { updatedAt: 'asc' },
        take: options.batchSize ?? 100,
        select: { id: true, createdAt: true },
      });
      let fixed = 0;
      for (const row of candidates) {
        const description = await temporal.describe(row.id);
        let outcome: (typeof CLOSED)[string] | undefined;
        let finishedAt = description?.closeTime ?? new Date();
        if (!description) {
          if (Date.now() - row.createdAt.getTime() < lostAfterMs) continue;
          outcome = { status: 'FAILED', type: 'Lost', message: 'Temporal has no run with this id' };
          finishedAt = new Date();
        } else {
          outcome = CLOSED[description.status];
        }
        if (!outcome) {
          // Still running: note that we looked, so the next pass starts with other rows.
          await tx.execution.updateMany({ where: { id: row.id, status: 'RUNNING' }, data: { updatedAt: new Date() } });
          continue;
        }
        const error = outcome.type ? { type: outcome.type, message: outcome.message } : undefined;
        const changed = await tx.execution.updateMany({
          where: { id: row.id, status: 'RUNNING' },
          data: { status: outcome.status, finishedAt, lastSeq: FINAL_SEQ, ...(error && { error }) },
        });
        if (changed.count > 0) {
          await tx.nodeRun.updateMany({
            where: { executionId: row.id, status: { in: ['PENDING', 'RUNNING', 'WAITING'] } },
            data: { status: 'CANCELLED', finishedAt, lastSeq: FINAL_SEQ },
          });
          // Live streams of this run learn that it ended (delivered when the transaction commits).
          await tx.$executeRaw`SELECT pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify({ executionId: row.id, seq: FINAL_SEQ })})`;
          fixed++;
        }
      }
      return fixed;
    },
    { timeout: 60_000 },
  );
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
