import type { Db } from '../db/client';
import type { ExecutionTrigger } from '../generated/prisma/enums';

/** A stored workflow and the version a start asks for, as one row. */
export interface StartableVersion {
  workflowId: string;
  archived: boolean;
  version: number;
  /** Undefined when the workflow exists but not that version. */
  definition?: unknown;
}

/** The execution row a start writes (status RUNNING; the rest takes the table's defaults). */
export interface NewRun {
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
export interface StartableRun extends StartableVersion {
  /** Set when the row was inserted (the workflow exists, is not archived, and has that version). */
  created?: { createdAt: Date; startedAt: Date };
}

/**
 * Looks up the workflow (scoped to the tenant) with its requested or latest version and, when
 * that version can start, inserts the run's RUNNING row — one statement, one round trip.
 * Starting a run is the API's hottest path: separate lookup and insert were two round trips and
 * the insert went through Prisma's query compiler, together most of a start's own CPU.
 * Undefined when the workflow does not exist for this tenant. A second start with the same
 * (tenant, idempotency key) fails with the unique violation (Prisma P2010, Postgres 23505).
 * A named prepared statement (see PREPARED): Postgres plans it once per connection.
 */
export async function createRunOfStartableVersion(db: Db, run: NewRun): Promise<StartableRun | undefined> {
  const version = run.version ?? null;
  const input = run.input === undefined ? null : JSON.stringify(run.input);
  const rows = await db.$queryRaw<
    { id: string; archived: boolean; version: number; definition: unknown; created_at: Date | null; started_at: Date | null }[]
  >`/* prepared */
    WITH w AS (
      SELECT w.id, w.archived_at IS NOT NULL AS archived, COALESCE(${version}::int, w.latest_version) AS version, v.definition
      FROM workflows w
      LEFT JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = COALESCE(${version}::int, w.latest_version)
      WHERE w.id = ${run.workflowId} AND w.tenant_id = ${run.tenantId}::uuid
    ), created AS (
      INSERT INTO executions (id, tenant_id, workflow_id, version, status, trigger, retry_of, idempotency_key, input)
      SELECT ${run.id}, ${run.tenantId}::uuid, w.id, w.version, 'RUNNING', ${run.trigger}::"ExecutionTrigger", ${run.retryOf}, ${run.idempotencyKey}, ${input}::jsonb
      FROM w WHERE NOT w.archived AND w.definition IS NOT NULL
      RETURNING created_at, started_at
    )
    SELECT w.id, w.archived, w.version, w.definition, created.created_at, created.started_at FROM w LEFT JOIN created ON true`;
  const row = rows[0];
  if (!row) return undefined;
  return {
    workflowId: row.id,
    archived: row.archived,
    version: row.version,
    ...(row.definition !== null && { definition: row.definition }),
    ...(row.created_at && row.started_at && { created: { createdAt: new Date(row.created_at), startedAt: new Date(row.started_at) } }),
  };
}
