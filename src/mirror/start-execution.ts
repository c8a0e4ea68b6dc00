import type pg from 'pg';
import { sqlPool, type Db } from '../db/client';
import { GroupCommit } from '../db/group-commit';
import { withRunAdmission } from './run-admission';
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
  /** The tenant's cap on RUNNING runs: the row is written only while fewer are running. */
  maxRunning: number;
  /** A test run (started with mocks): listed only with ?test=true, left out of stats. */
  test?: boolean;
}

/** What one start statement found and, when the version is startable, created. */
export interface StartableExecution extends StartableVersion {
  /** Set when the row was inserted (the workflow exists, is not archived, and has that version). */
  created?: { createdAt: Date; startedAt: Date };
  /** Set when the version can start but the tenant has `running` runs in progress already (at its cap): no row. */
  limited?: { running: number };
}

const START_RUNS = {
  // One statement for one run or many at once (see GroupCommit): the runs arrive as parallel
  // arrays and are answered in their order (ord). A named prepared statement: each connection
  // parses and plans it once (unprepared, Postgres spent 2–2.5× the CPU on it). It runs inside
  // withRunAdmission, holding the lock of every tenant in the batch: the count of RUNNING rows
  // is exact, and the runs of one tenant are admitted in order while count + rank <= limit.
  name: 'trellis_start_runs_v3',
  text: `
    WITH r AS (
      SELECT * FROM unnest($1::int[], $2::text[], $3::uuid[], $4::text[], $5::"ExecutionTrigger"[], $6::text[], $7::text[], $8::text[], $9::int[], $10::boolean[])
        WITH ORDINALITY AS r(version, workflow_id, tenant_id, id, trigger, retry_of, idempotency_key, input, max_running, test, ord)
    ), w AS (
      SELECT r.*, w.id AS found_id, w.archived_at IS NOT NULL AS archived, COALESCE(r.version, w.latest_version) AS found_version, v.definition
      FROM r
      JOIN workflows w ON w.id = r.workflow_id AND w.tenant_id = r.tenant_id
      LEFT JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = COALESCE(r.version, w.latest_version)
    ), startable AS (
      SELECT w.*, row_number() OVER (PARTITION BY w.tenant_id ORDER BY w.ord) AS nth
      FROM w WHERE NOT w.archived AND w.definition IS NOT NULL
    ), running AS (
      SELECT e.tenant_id, count(*)::int AS n FROM executions e
      WHERE e.status = 'RUNNING' AND e.tenant_id IN (SELECT DISTINCT tenant_id FROM startable)
      GROUP BY e.tenant_id
    ), admitted AS (
      SELECT s.*, COALESCE(running.n, 0) AS running FROM startable s LEFT JOIN running ON running.tenant_id = s.tenant_id
    ), created AS (
      INSERT INTO executions (id, tenant_id, workflow_id, version, status, trigger, retry_of, idempotency_key, input, test)
      SELECT a.id, a.tenant_id, a.found_id, a.found_version, 'RUNNING', a.trigger, a.retry_of, a.idempotency_key, a.input::jsonb, a.test
      FROM admitted a WHERE a.running + a.nth <= a.max_running
      RETURNING id, created_at, started_at
    )
    SELECT r.ord, w.found_id AS id, w.archived, w.found_version AS version, w.definition, created.created_at, created.started_at,
      LEAST(admitted.running + admitted.nth - 1, admitted.max_running) AS running_before
    FROM r LEFT JOIN w ON w.ord = r.ord LEFT JOIN admitted ON admitted.ord = r.ord LEFT JOIN created ON created.id = r.id
    ORDER BY r.ord`,
};

interface StartRow {
  id: string | null;
  archived: boolean | null;
  version: number | null;
  definition: unknown;
  created_at: Date | null;
  started_at: Date | null;
  running_before: number | null;
}

/**
 * Looks up the workflow (scoped to the tenant) with its requested or latest version and, when
 * that version can start and the tenant is below its cap, inserts the run's RUNNING row — one
 * statement in a transaction holding the tenant's admission lock (see run-admission.ts).
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

function startOne(pool: pg.Pool, run: SerialisedRun): Promise<StartableExecution | undefined> {
  return startMany(pool, [run]).then((rows) => rows[0]);
}

async function startMany(pool: pg.Pool, runs: SerialisedRun[]): Promise<(StartableExecution | undefined)[]> {
  const column = <K extends keyof SerialisedRun>(key: K) => runs.map((r) => r[key] ?? null);
  const { rows } = await withRunAdmission(pool, runs.map((r) => r.tenantId), (client) =>
    client.query<StartRow>({
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
        column('maxRunning'),
        runs.map((r) => r.test === true),
      ],
    }),
  );
  return rows.map((row) => (row.id === null ? undefined : toStartable(row)));
}

function toStartable(row: StartRow): StartableExecution {
  return {
    workflowId: row.id!,
    archived: row.archived!,
    version: row.version!,
    ...(row.definition !== null && { definition: row.definition }),
    ...(row.created_at && row.started_at && { created: { createdAt: row.created_at, startedAt: row.started_at } }),
    ...(!row.created_at && row.running_before !== null && { limited: { running: row.running_before } }),
  };
}
