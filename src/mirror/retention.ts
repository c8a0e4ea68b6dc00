import type { Db } from '../db/client';

/**
 * A definition's `retention` in milliseconds, in SQL: the same grammar as domain/duration.ts
 * (a number of ms, a string of digits, or parts such as "1h30m"); validation accepted it on save.
 */
const RETENTION_MS = `
  CASE
    WHEN v.definition->'retention' IS NULL THEN NULL
    WHEN jsonb_typeof(v.definition->'retention') = 'number' THEN (v.definition->>'retention')::numeric
    WHEN v.definition->>'retention' ~ '^\\s*\\d+\\s*$' THEN trim(v.definition->>'retention')::numeric
    ELSE (SELECT sum(m[1]::numeric * CASE m[2] WHEN 'ms' THEN 1 WHEN 's' THEN 1000 WHEN 'm' THEN 60000 WHEN 'h' THEN 3600000 ELSE 86400000 END)
          FROM regexp_matches(v.definition->>'retention', '(\\d+(?:\\.\\d+)?)\\s*(ms|s|m|h|d)', 'g') AS m)
  END`;

export interface RetentionBatch {
  /** TRELLIS_RETENTION in ms; null keeps runs whose definition sets no retention. */
  defaultMs: number | null;
  /** Runs deleted at most per call (their node runs and map items go with them by cascade). */
  limit: number;
}

/**
 * Deletes up to `limit` finished runs older than their retention (the definition's, else the
 * deployment's), oldest first, with their node runs and map items (ON DELETE CASCADE) and their
 * stored outputs, in one statement. Rows another deleter holds are skipped. Returns how many runs went.
 */
export async function deleteExpiredRuns(db: Db, batch: RetentionBatch): Promise<number> {
  const rows = await db.$queryRawUnsafe<{ runs: number }[]>(
    `
    WITH doomed AS (
      SELECT e.id FROM executions e
      LEFT JOIN workflow_versions v ON v.workflow_id = e.workflow_id AND v.version = e.version
      WHERE e.status NOT IN ('RUNNING') AND e.finished_at IS NOT NULL
        AND e.finished_at < now() - make_interval(secs => COALESCE(${RETENTION_MS}, $1::numeric) / 1000.0)
      ORDER BY e.finished_at
      LIMIT $2
      FOR UPDATE OF e SKIP LOCKED
    ), blobs AS (
      DELETE FROM output_blobs WHERE execution_id IN (SELECT id FROM doomed) RETURNING 1
    ), runs AS (
      DELETE FROM executions WHERE id IN (SELECT id FROM doomed) RETURNING 1
    )
    SELECT (SELECT count(*) FROM runs)::int AS runs`,
    batch.defaultMs,
    batch.limit,
  );
  return rows[0]?.runs ?? 0;
}

/**
 * Deletes up to `limit` stored outputs whose run (and root run) no longer exists (a run deleted before this
 * code, or by hand), older than `graceMs` so an output written just before its run's row is
 * never taken. Returns how many went.
 */
export async function deleteOrphanedOutputs(db: Db, limit: number, graceMs = 3_600_000): Promise<number> {
  const rows = await db.$queryRawUnsafe<{ n: number }[]>(
    `
    WITH doomed AS (
      SELECT b.id FROM output_blobs b
      WHERE b.created_at < now() - make_interval(secs => $2::numeric / 1000.0)
        AND NOT EXISTS (SELECT 1 FROM executions e WHERE e.id = b.execution_id)
        -- Map batches and loops store under "<run id>.<path>": theirs are orphans once the run is gone.
        AND NOT EXISTS (SELECT 1 FROM executions e WHERE e.id = split_part(b.execution_id, '.', 1))
      LIMIT $1
      FOR UPDATE SKIP LOCKED
    ), gone AS (DELETE FROM output_blobs WHERE id IN (SELECT id FROM doomed) RETURNING 1)
    SELECT count(*)::int AS n FROM gone`,
    limit,
    graceMs,
  );
  return rows[0]?.n ?? 0;
}
