import { sqlPool, type Db } from '../db/client';
import type { ExecutionTrigger } from '../domain/status';

/** A stored workflow and the version a start asks for, as one row. */
export interface StartableVersion {
  workflowId: string;
  archived: boolean;
  version: number;
  /** Undefined when the workflow exists but not that version. */
  definition?: unknown;
}

/** The execution row a start writes (status RUNNING; the rest takes the table's defaults). */
export interface ExecutionToStart {
  id: string;
  tenantId: string;
  workflowId: string;
  /** Undefined: the workflow's latest version. */
  version?: number;
  trigger: ExecutionTrigger;
  retryOf: string | null;
  idempotencyKey: string | null;
  /** Undefined leaves the column NULL; null is stored as JSON null (they fingerprint alike). */
  input: unknown;
}

/** What one start statement found and, when the version is startable, created. */
export interface StartableExecution extends StartableVersion {
  /** Set when the row was inserted (the workflow exists, is not archived, and has that version). */
  created?: { createdAt: Date; startedAt: Date };
}

const START_RUN = {
  // A named prepared statement: each connection parses and plans it once (unprepared, Postgres
  // spent 2–2.5× the CPU on it).
  name: 'trellis_start_run_v1',
  text: `
    WITH w AS (
      SELECT w.id, w.archived_at IS NOT NULL AS archived, COALESCE($1::int, w.latest_version) AS version, v.definition
      FROM workflows w
      LEFT JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = COALESCE($1::int, w.latest_version)
      WHERE w.id = $2 AND w.tenant_id = $3::uuid
    ), created AS (
      INSERT INTO executions (id, tenant_id, workflow_id, version, status, trigger, retry_of, idempotency_key, input)
      SELECT $4, $3::uuid, w.id, w.version, 'RUNNING', $5::"ExecutionTrigger", $6, $7, $8::jsonb
      FROM w WHERE NOT w.archived AND w.definition IS NOT NULL
      RETURNING created_at, started_at
    )
    SELECT w.id, w.archived, w.version, w.definition, created.created_at, created.started_at FROM w LEFT JOIN created ON true`,
};

/**
 * Looks up the workflow (scoped to the tenant) with its requested or latest version and, when
 * that version can start, inserts the run's RUNNING row — one statement, one round trip.
 * Starting a run is the API's hottest path: a separate lookup and insert were two round trips,
 * and Prisma's query pipeline cost about as much CPU as the driver, so this goes to
 * node-postgres directly. Undefined when the workflow does not exist for this tenant. A second
 * start with the same (tenant, idempotency key) fails with Postgres's unique violation (23505).
 */
export async function createExecutionOfStartableVersion(db: Db, run: ExecutionToStart): Promise<StartableExecution | undefined> {
  const input = run.input === undefined ? null : JSON.stringify(run.input);
  const { rows } = await sqlPool(db).query<{
    id: string;
    archived: boolean;
    version: number;
    definition: unknown;
    created_at: Date | null;
    started_at: Date | null;
  }>({ ...START_RUN, values: [run.version ?? null, run.workflowId, run.tenantId, run.id, run.trigger, run.retryOf, run.idempotencyKey, input] });
  const row = rows[0];
  if (!row) return undefined;
  return {
    workflowId: row.id,
    archived: row.archived,
    version: row.version,
    ...(row.definition !== null && { definition: row.definition }),
    ...(row.created_at && row.started_at && { created: { createdAt: row.created_at, startedAt: row.started_at } }),
  };
}
