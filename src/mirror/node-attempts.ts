import type { Db } from '../db/client';
import { storable } from './storable';

/** Failed attempts kept per node: the newest ones; older rows are deleted as new ones arrive. */
export const NODE_ATTEMPTS_KEPT = 20;
/** A failed attempt's message is kept up to this many characters (the node's final error keeps all of it). */
export const ATTEMPT_MESSAGE_MAX_CHARS = 4_000;
const ERROR_TYPE_MAX_CHARS = 200;

/** One failed attempt of a node, as the worker that ran it saw it. */
export interface NodeAttemptWrite {
  executionId: string;
  nodeId: string;
  attempt: number;
  type: string;
  message: string;
  /** ISO time the attempt failed. */
  failedAt: string;
}

/** A failed attempt as the API shows it. */
export interface NodeAttemptView {
  attempt: number;
  type: string;
  message: string;
  at: string;
}

/**
 * Writes failed attempts, many in one statement, then trims each node to its last
 * NODE_ATTEMPTS_KEPT. Only attempts of mirrored runs are kept (the run's row must exist): an
 * unmirrored run, or a map body's child workflow, has no row and its attempts are dropped here.
 * A repeated write of the same attempt (a retried flush) is ignored.
 */
export async function writeNodeAttempts(db: Db, attempts: NodeAttemptWrite[]): Promise<void> {
  if (attempts.length === 0) return;
  const rows = JSON.stringify(
    attempts.map((a) => ({
      execution_id: a.executionId,
      node_id: a.nodeId,
      attempt: a.attempt,
      error_type: clip(a.type, ERROR_TYPE_MAX_CHARS),
      message: clip(a.message, ATTEMPT_MESSAGE_MAX_CHARS),
      failed_at: a.failedAt,
    })),
  );
  await db.$executeRaw`
    WITH incoming AS (
      SELECT * FROM jsonb_to_recordset(${rows}::jsonb)
        AS x(execution_id text, node_id text, attempt int, error_type text, message text, failed_at timestamptz)
    ), written AS (
      INSERT INTO node_attempts (execution_id, node_id, attempt, error_type, message, failed_at)
      SELECT execution_id, node_id, attempt, error_type, message, failed_at FROM incoming i
      WHERE EXISTS (SELECT 1 FROM executions e WHERE e.id = i.execution_id)
      ON CONFLICT (execution_id, node_id, attempt) DO NOTHING
      RETURNING execution_id, node_id, attempt
    ), newest AS (
      SELECT execution_id, node_id, max(attempt) AS attempt FROM written GROUP BY execution_id, node_id
    )
    DELETE FROM node_attempts a USING newest n
    WHERE a.execution_id = n.execution_id AND a.node_id = n.node_id AND a.attempt <= n.attempt - ${NODE_ATTEMPTS_KEPT}`;
}

/** Every kept failed attempt of a run, by node id, oldest first. */
export async function nodeAttempts(db: Db, executionId: string): Promise<Map<string, NodeAttemptView[]>> {
  const rows = await db.nodeAttempt.findMany({ where: { executionId }, orderBy: [{ nodeId: 'asc' }, { attempt: 'asc' }] });
  const byNode = new Map<string, NodeAttemptView[]>();
  for (const row of rows) {
    let list = byNode.get(row.nodeId);
    if (!list) byNode.set(row.nodeId, (list = []));
    list.push({ attempt: row.attempt, type: row.errorType, message: row.message, at: row.failedAt.toISOString() });
  }
  return byNode;
}

/** Cut to `max` characters, as text Postgres can store (storable: no NUL, no lone surrogate left by the cut). */
function clip(text: string, max: number): string {
  return storable(text.length <= max ? text : `${text.slice(0, max - 1)}…`) as string;
}
