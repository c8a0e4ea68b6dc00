import type { Db } from '../db/client';
import { OPEN_NODE_STATUSES, type TerminalExecutionStatus } from '../domain/status';
import { notifyTransition } from './notify';
import { jsonParam } from './storable';
import { Prisma } from '../generated/prisma/client';

/** Written by the reconciler, it outranks any mirror write that might still arrive. */
export const FINAL_SEQ = 2_147_483_647;

export interface StaleExecution {
  id: string;
  createdAt: Date;
  /** The row's sequence number when claimed: the verdict is written only if it has not moved since. */
  lastSeq: number;
}

/**
 * Claims up to `limit` RUNNING rows nobody wrote since `olderThan`, oldest first, in one short
 * statement: their `updated_at` moves to now, so a concurrent reconciler (another process) skips
 * them (SKIP LOCKED while this statement runs, the newer `updated_at` afterwards), and the next
 * pass starts with other rows. No lock or transaction outlives the statement.
 */
export async function claimStaleExecutions(db: Db, olderThan: Date, limit: number): Promise<StaleExecution[]> {
  const rows = await db.$queryRaw<{ id: string; created_at: Date; last_seq: number }[]>`
    UPDATE executions SET updated_at = now()
    WHERE id IN (
      SELECT id FROM executions
      WHERE status IN ('QUEUED', 'RUNNING') AND updated_at < ${olderThan}
      ORDER BY updated_at ASC
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ) AND status IN ('QUEUED', 'RUNNING')
    RETURNING id, created_at, last_seq`;
  return rows.map((r) => ({ id: r.id, createdAt: r.created_at, lastSeq: r.last_seq })).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

export interface EndedRun {
  id: string;
  /** The seq read when the row was claimed. */
  seenSeq: number;
  status: TerminalExecutionStatus;
  finishedAt: Date;
  /** Kept as the run's error; undefined leaves the row's error as it is. */
  error?: { type: string; message: string };
}

/**
 * Writes the verdict on a run that ended outside the workflow, in one statement (one implicit
 * transaction): the run row (only if still RUNNING at the seq that was read, so a mirror write
 * that landed meanwhile wins and the run is looked at again next pass), its open node rows
 * (CANCELLED), and the NOTIFY. FINAL_SEQ makes every later mirror write to these rows a no-op.
 * True when the row changed.
 */
export async function settleEndedExecution(db: Db, run: EndedRun): Promise<boolean> {
  const open = Prisma.join(OPEN_NODE_STATUSES.map((s) => Prisma.sql`${s}::"NodeRunStatus"`));
  const rows = await db.$queryRaw<{ notified: string }[]>`
    WITH run AS (
      UPDATE executions SET status = ${run.status}::"ExecutionStatus", finished_at = ${run.finishedAt}, last_seq = ${FINAL_SEQ},
        error = COALESCE(${jsonParam(run.error)}::jsonb, error), updated_at = now()
      WHERE id = ${run.id} AND status IN ('QUEUED', 'RUNNING') AND last_seq = ${run.seenSeq}
      RETURNING id
    ), nodes AS (
      UPDATE node_runs SET status = 'CANCELLED', finished_at = ${run.finishedAt}, last_seq = ${FINAL_SEQ}
      WHERE execution_id IN (SELECT id FROM run) AND status IN (${open})
      RETURNING 1
    )
    SELECT ${notifyTransition(run.id, FINAL_SEQ)}::text AS notified FROM run`;
  return rows.length > 0;
}
