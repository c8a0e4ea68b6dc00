import type pg from 'pg';
import { sqlPool, type Db } from '../db/client';
import { GroupCommit } from '../db/group-commit';
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

const START_RUNS = {
  // The same lookup and insert for many runs at once (see GroupCommit): the runs arrive as
  // parallel arrays and are answered in their order (ord).
  name: 'trellis_start_runs_v1',
  text: `
    WITH r AS (
      SELECT * FROM unnest($1::int[], $2::text[], $3::uuid[], $4::text[], $5::"ExecutionTrigger"[], $6::text[], $7::text[], $8::text[])
        WITH ORDINALITY AS r(version, workflow_id, tenant_id, id, trigger, retry_of, idempotency_key, input, ord)
    ), w AS (
      SELECT r.*, w.id AS found_id, w.archived_at IS NOT NULL AS archived, COALESCE(r.version, w.latest_version) AS found_version, v.definition
      FROM r
      JOIN workflows w ON w.id = r.workflow_id AND w.tenant_id = r.tenant_id
      LEFT JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = COALESCE(r.version, w.latest_version)
    ), created AS (
      INSERT INTO executions (id, tenant_id, workflow_id, version, status, trigger, retry_of, idempotency_key, input)
      SELECT w.id, w.tenant_id, w.found_id, w.found_version, 'RUNNING', w.trigger, w.retry_of, w.idempotency_key, w.input::jsonb
      FROM w WHERE NOT w.archived AND w.definition IS NOT NULL
      RETURNING id, created_at, started_at
    )
    SELECT r.ord, w.found_id AS id, w.archived, w.found_version AS version, w.definition, created.created_at, created.started_at
    FROM r LEFT JOIN w ON w.ord = r.ord LEFT JOIN created ON created.id = r.id
    ORDER BY r.ord`,
};

interface StartRow {
  id: string | null;
  archived: boolean | null;
  version: number | null;
  definition: unknown;
  created_at: Date | null;
  started_at: Date | null;
}

/**
 * Looks up the workflow (scoped to the tenant) with its requested or latest version and, when
 * that version can start, inserts the run's RUNNING row — one statement, one round trip.
 * Starting a run is the API's hottest path: a separate lookup and insert were two round trips,
 * and Prisma's query pipeline cost about as much CPU as the driver, so this goes to
 * node-postgres directly. Concurrent starts of one process share statements (GroupCommit): under
 * load Postgres commits many runs at once. Undefined when the workflow does not exist for this
 * tenant. A second start with the same (tenant, idempotency key) fails with IdempotencyKeyTaken.
 */
export function createExecutionOfStartableVersion(db: Db, run: ExecutionToStart): Promise<StartableExecution | undefined> {
  const pool = sqlPool(db);
  let batcher = batchers.get(pool);
  if (!batcher) {
    batcher = new GroupCommit((runs) => startMany(pool, runs), (one) => startOne(pool, one), { sizeOf: (r) => r.input?.length ?? 0 });
    batchers.set(pool, batcher);
  }
  return batcher.submit({ ...run, input: run.input === undefined ? null : JSON.stringify(run.input) }).catch((err: unknown) => {
    throw isIdempotencyKeyViolation(err) ? new IdempotencyKeyTaken(run.tenantId, run.idempotencyKey!) : err;
  });
}

/** Another run of the tenant already holds this idempotency key (it may have committed a moment ago). */
export class IdempotencyKeyTaken extends Error {
  constructor(
    readonly tenantId: string,
    readonly idempotencyKey: string,
  ) {
    super(`idempotency key "${idempotencyKey}" is already taken`);
    this.name = 'IdempotencyKeyTaken';
  }
}

function isIdempotencyKeyViolation(err: unknown): boolean {
  const { code, constraint } = err as { code?: unknown; constraint?: unknown };
  // 23505: unique_violation; the index is Prisma's name for @@unique([tenantId, idempotencyKey]).
  return code === '23505' && constraint === 'executions_tenant_id_idempotency_key_key';
}

/** A run with its input already serialised (null: the column stays NULL). */
type SerialisedRun = Omit<ExecutionToStart, 'input'> & { input: string | null };

const batchers = new WeakMap<pg.Pool, GroupCommit<SerialisedRun, StartableExecution | undefined>>();

async function startOne(pool: pg.Pool, run: SerialisedRun): Promise<StartableExecution | undefined> {
  const { rows } = await pool.query<StartRow>({
    ...START_RUN,
    values: [run.version ?? null, run.workflowId, run.tenantId, run.id, run.trigger, run.retryOf, run.idempotencyKey, run.input],
  });
  return rows[0] ? toStartable(rows[0]) : undefined;
}

async function startMany(pool: pg.Pool, runs: SerialisedRun[]): Promise<(StartableExecution | undefined)[]> {
  const column = <K extends keyof SerialisedRun>(key: K) => runs.map((r) => r[key] ?? null);
  const { rows } = await pool.query<StartRow>({
    ...START_RUNS,
    values: [
      column('version'),
      column('workflowId'),
      column('tenantId'),
      column('id'),
      column('trigger'),
      column('retryOf'),
      column('idempotencyKey'),
      column('input'),
    ],
  });
  return rows.map((row) => (row.id === null ? undefined : toStartable(row)));
}

function toStartable(row: StartRow): StartableExecution {
  return {
    workflowId: row.id!,
    archived: row.archived!,
    version: row.version!,
    ...(row.definition !== null && { definition: row.definition }),
    ...(row.created_at && row.started_at && { created: { createdAt: row.created_at, startedAt: row.started_at } }),
  };
}
