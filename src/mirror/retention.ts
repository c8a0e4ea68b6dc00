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

/** No retention is shorter (validation refuses less), so younger runs are never looked at. */
const MIN_RETENTION = `interval '1 minute'`;

/**
 * The run a stored output belongs to: the longest dot-prefix of its execution_id that is a run.
 * Map batches, loop iterations and body workflows store under "<run id>.<path>", and a
 * subworkflow node's child run is itself "<parent id>.<path>", so the root alone would hand a
 * live child run's outputs to its parent. Each prefix is one primary-key lookup.
 */
const OWNER_OF_BLOB = (b: string) => `
  (SELECT o.id FROM executions o
    WHERE o.id IN (SELECT array_to_string((string_to_array(${b}.execution_id, '.'))[1:n], '.')
                   FROM generate_series(1, cardinality(string_to_array(${b}.execution_id, '.'))) AS n)
    ORDER BY length(o.id) DESC LIMIT 1)`;

export interface RetentionBatch {
  /** TRELLIS_RETENTION in ms; null keeps runs whose definition sets no retention. */
  defaultMs: number | null;
  /** Rows deleted at most per call, counting every table (runs, node runs, map items, stored outputs). */
  limit: number;
}

export interface RetentionBatchResult {
  /** Runs deleted by this call. */
  runs: number;
  /** Rows deleted in all, runs included; below `limit` means nothing expired is left right now. */
  rows: number;
}

/**
 * One bounded step of retention, in one transaction: up to `limit` expired runs (finished longer
 * ago than their definition's retention, else the deployment's), oldest first, locked so a
 * concurrent revive or a second deleter cannot touch them (others' locked rows are skipped).
 * Their stored outputs, map items and node runs go first, each statement deleting at most what
 * is left of `limit`; only when all of a batch's children are gone do the runs themselves go.
 * A run with 100,000 map items is so deleted over many calls, never in one huge statement.
 */
export async function deleteExpiredRuns(db: Db, batch: RetentionBatch): Promise<RetentionBatchResult> {
  return db.$transaction(async (tx) => {
    const doomed = await tx.$queryRawUnsafe<{ id: string }[]>(
      `SELECT e.id FROM executions e
       LEFT JOIN workflow_versions v ON v.workflow_id = e.workflow_id AND v.version = e.version
       WHERE e.finished_at < now() - ${MIN_RETENTION} AND e.status <> 'RUNNING'
         AND e.finished_at < now() - make_interval(secs => COALESCE(${RETENTION_MS}, $1::numeric) / 1000.0)
       ORDER BY e.finished_at
       LIMIT $2
       FOR UPDATE OF e SKIP LOCKED`,
      batch.defaultMs,
      batch.limit,
    );
    if (doomed.length === 0) return { runs: 0, rows: 0 };
    const ids = doomed.map((r) => r.id);
    const roots = [...new Set(ids.map((id) => id.split('.')[0]!))];
    let budget = batch.limit;

    const deleteBounded = async (sql: string, ...args: unknown[]): Promise<number> => {
      const rows = await tx.$queryRawUnsafe<{ n: number }[]>(sql, ...args);
      const n = rows[0]?.n ?? 0;
      budget -= n;
      return n;
    };
    // Stored outputs of the runs (and of their batches and iterations), through the root index.
    await deleteBounded(
      `WITH gone AS (
         DELETE FROM output_blobs WHERE id IN (
           SELECT b.id FROM output_blobs b WHERE b.root_execution_id = ANY($1::text[]) AND ${OWNER_OF_BLOB('b')} = ANY($2::text[])
           LIMIT $3)
         RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      roots,
      ids,
      budget,
    );
    for (const table of ['map_items', 'node_runs']) {
      if (budget <= 0) return { runs: 0, rows: batch.limit };
      await deleteBounded(
        `WITH gone AS (
           DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE execution_id = ANY($1::text[]) LIMIT $2)
           RETURNING 1)
         SELECT count(*)::int AS n FROM gone`,
        ids,
        budget,
      );
    }
    // A statement that used up its share may have left rows behind: the runs wait for the next call.
    if (budget <= 0) return { runs: 0, rows: batch.limit };
    const runs = await deleteBounded(
      `WITH gone AS (DELETE FROM executions WHERE id IN (SELECT id FROM executions WHERE id = ANY($1::text[]) LIMIT $2) RETURNING 1)
       SELECT count(*)::int AS n FROM gone`,
      ids,
      budget,
    );
    return { runs, rows: batch.limit - budget };
  }, { timeout: 60_000 });
}

export interface OrphanSweep {
  /** Stored outputs looked at per call, in id order after `after`. */
  limit: number;
  /** Where the previous call stopped (an output id); none: from the start. */
  after?: string;
  /** Outputs younger than this are left alone, so one written just before its run's row is never taken. */
  graceMs?: number;
}

/**
 * Looks at the next `limit` stored outputs by id after `after` and deletes those no run owns
 * any more (a run deleted by hand or before retention deleted its outputs, a start that never
 * wrote its row). The scan itself is bounded, not just the deletes: a sweep of a table with no
 * orphans costs `limit` index entries per call. `next` is where to go on (none: the end).
 */
export async function deleteOrphanedOutputs(db: Db, sweep: OrphanSweep): Promise<{ deleted: number; next?: string }> {
  const rows = await db.$queryRawUnsafe<{ n: number; last: string | null }[]>(
    `
    WITH scanned AS (
      SELECT b.id, b.execution_id, b.created_at FROM output_blobs b
      WHERE b.id > COALESCE($2::uuid, '00000000-0000-0000-0000-000000000000'::uuid)
      ORDER BY b.id
      LIMIT $1
    ), doomed AS (
      SELECT w.id FROM scanned w
      WHERE w.created_at < now() - make_interval(secs => $3::numeric / 1000.0) AND ${OWNER_OF_BLOB('w')} IS NULL
    ), gone AS (DELETE FROM output_blobs WHERE id IN (SELECT id FROM doomed) RETURNING 1)
    SELECT (SELECT count(*) FROM gone)::int AS n,
           CASE WHEN (SELECT count(*) FROM scanned) = $1 THEN (SELECT id::text FROM scanned ORDER BY id DESC LIMIT 1) END AS last`,
    sweep.limit,
    sweep.after ?? null,
    sweep.graceMs ?? 3_600_000,
  );
  const row = rows[0];
  return { deleted: row?.n ?? 0, ...(row?.last ? { next: row.last } : {}) };
}
