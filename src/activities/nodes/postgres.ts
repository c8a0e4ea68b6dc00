import { postgresConnectionSetting } from '../../config';
import { Type, type Static } from '@sinclair/typebox';
import { ApplicationFailure } from '@temporalio/common';
import pg from 'pg';
import { defineNodeType, type NodeRunContext } from '../registry';
import { withTimeout } from '../../util/timeout';
import { guardTenantDatabaseUrl, pinnedClientConfig, tenantConnectFailed, TenantDatabaseUrlRefused, tenantUrlRefused, untilConnectTimeout } from './pg-connection-guard';
import { assertDeploymentConnectionAllowed } from './pg-deployment-access';
import { PoolShare } from './pg-pool-share';

export const PostgresConfigSchema = Type.Object(
  {
    connection: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]*$' }),
    sql: Type.String({ minLength: 1 }),
    params: Type.Optional(Type.Array(Type.Unknown())),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'at most one day' })),
  },
  { additionalProperties: false },
);
export type PostgresConfig = Static<typeof PostgresConfigSchema>;

export interface PostgresOutput {
  rows: Record<string, unknown>[];
  rowCount: number;
}

/** Clients per pool: each tenant URL and each deployment connection has its own pool of this size. */
export const POOL_MAX = 10;
/**
 * Clients one tenant may hold at once in a deployment connection's pool (shared by its
 * tenants): half of it, so one tenant's slow queries always leave room and another tenant's
 * query starts as soon as it arrives rather than after the slow ones.
 */
export const TENANT_POOL_SHARE = Math.max(1, Math.floor(POOL_MAX / 2));
/** How long a cancelled activity waits for pg_cancel_backend before giving up on the backend. */
const CANCEL_WAIT_MS = 5_000;

const OID_DATE = 1082;
const OID_TIMESTAMP = 1114;
/**
 * `date` and `timestamp without time zone` stay as Postgres prints them: turning them into JS
 * Dates would silently apply the worker's local time zone.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === OID_DATE || oid === OID_TIMESTAMP ? (value: string) => value : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

interface PoolEntry {
  /** The URL, and for a tenant URL the address it was pinned to: a change replaces the pool. */
  fingerprint: string;
  pool: pg.Pool;
  /** How to open a connection of this pool's own (to cancel a query). */
  clientConfig: pg.ClientConfig;
  /** Set for a tenant's own URL: connection failures are then reported without their cause. */
  tenantSecret?: string;
  /** Set for a deployment connection: the tenants' shares of its pool. */
  share?: PoolShare;
}
/** Keyed by env var name, or tenant and connection for tenant secrets. */
const pools = new Map<string, PoolEntry>();

export function connectionEnvVar(connection: string): string {
  return `TRELLIS_PG_${connection.toUpperCase()}_URL`;
}

export const postgresNodeType = defineNodeType({
  type: 'postgres',
  configSchema: PostgresConfigSchema,
  // Values reach SQL only as $1, $2 parameters: a template in the text would be SQL injection.
  literalFields: ['connection', 'sql'],
  secretFields: ['params'],
  run: (config, ctx) => runPostgres(config, ctx),
});

/**
 * The tenant secret that defines connection `name` for that tenant only, so a tenant adds a
 * database without redeploying the worker: `analytics` → secret `PG_ANALYTICS_URL`.
 */
export function connectionSecretName(connection: string): string {
  return `PG_${connection.toUpperCase()}_URL`;
}

/** Ends every pool; call on worker shutdown. */
export async function closePostgresPools(): Promise<void> {
  const entries = [...pools.values()];
  pools.clear();
  await Promise.all(entries.map((e) => e.pool.end().catch(() => undefined)));
}

async function runPostgres(config: PostgresConfig, ctx: NodeRunContext): Promise<PostgresOutput> {
  const entry = await poolFor(config.connection, ctx);
  const releaseShare = entry.share ? await entry.share.acquire(ctx.tenantId ?? '', ctx.signal) : undefined;
  try {
    return await queryPool(entry, config, ctx);
  } finally {
    releaseShare?.();
  }
}

async function queryPool(entry: PoolEntry, config: PostgresConfig, ctx: NodeRunContext): Promise<PostgresOutput> {
  const connectStartedAt = Date.now();
  const client = await untilAborted(entry.pool.connect(), ctx.signal, (late) => late.then((c) => c.release()).catch(() => undefined)).catch(
    async (err: unknown) => {
      if (ctx.signal.aborted) throw err;
      if (entry.tenantSecret === undefined) throw classifyError(err);
      await untilConnectTimeout(connectStartedAt, entry.clientConfig, ctx.signal);
      throw tenantConnectFailed(config.connection, entry.tenantSecret);
    },
  );

  let destroy = false;
  try {
    if (config.timeoutMs !== undefined) {
      await client.query("SELECT set_config('statement_timeout', $1, false)", [String(config.timeoutMs)]);
      // Whatever happens next, the session setting must not leak to the next user of this client.
      destroy = true;
    }
    const query = client.query(config.sql, config.params ?? []);
    const result = (await untilAborted(query, ctx.signal, (late) => late.catch(() => undefined))) as pg.QueryResult | pg.QueryResult[];
    if (config.timeoutMs !== undefined) {
      await client.query('RESET statement_timeout');
      destroy = false;
    }
    // Without params a query may hold several statements; pg then returns one result each.
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    const rows = (last?.rows ?? []).map(toJsonRow);
    // Commands such as SHOW report no count; the rows returned are then the honest answer.
    return { rows, rowCount: last?.rowCount ?? rows.length };
  } catch (err) {
    // A plain SQL error leaves the connection usable; anything else (or a cancel) may not.
    destroy ||= ctx.signal.aborted || !(err instanceof pg.DatabaseError);
    if (ctx.signal.aborted) {
      // Stop the query on the server before reporting cancellation, and never hand this
      // connection (with a cancel possibly in flight) to another query.
      await withTimeout(cancelBackend(entry.clientConfig, backendPid(client)), CANCEL_WAIT_MS).catch(() => undefined);
      throw err;
    }
    throw classifyError(err);
  } finally {
    client.release(destroy);
  }
}

/** A tenant's own connection secret first (scoped to its runs), then the worker's configuration. */
async function poolFor(connection: string, ctx: NodeRunContext): Promise<PoolEntry> {
  const envVar = connectionEnvVar(connection);
  const secretName = connectionSecretName(connection);
  const tenantUrl = await ctx.secret(secretName);
  const url = tenantUrl ?? postgresConnectionSetting(connection)?.url;
  if (!url) {
    throw ApplicationFailure.create({
      type: 'ConfigError',
      message: `unknown postgres connection "${connection}": set the tenant secret ${secretName} or ${envVar} on the worker`,
      nonRetryable: true,
      details: [{ connection, envVar, secret: secretName }],
    });
  }
  let key: string;
  let fingerprint: string;
  let clientConfig: pg.ClientConfig;
  if (tenantUrl !== undefined) {
    const pinned = await guardTenantDatabaseUrl(tenantUrl).catch((err: unknown) => {
      throw err instanceof TenantDatabaseUrlRefused ? tenantUrlRefused(connection, secretName, err.reason) : err;
    });
    key = `tenant:${ctx.tenantId}:${connection}`;
    fingerprint = `${tenantUrl}\n${pinned.address}`;
    clientConfig = pinnedClientConfig(pinned);
  } else {
    await assertDeploymentConnectionAllowed(connection, ctx.tenantId);
    key = envVar;
    fingerprint = url;
    clientConfig = { connectionString: url, connectionTimeoutMillis: 10_000 };
  }
  const existing = pools.get(key);
  if (existing?.fingerprint === fingerprint) return existing;
  if (existing) void existing.pool.end().catch(() => undefined);
  const pool = new pg.Pool({ ...clientConfig, max: POOL_MAX, idleTimeoutMillis: 30_000, types });
  // An idle client losing its connection emits here; pg discards it, and the next query reconnects.
  pool.on('error', () => undefined);
  const entry: PoolEntry =
    tenantUrl !== undefined
      ? { fingerprint, pool, clientConfig, tenantSecret: secretName }
      : { fingerprint, pool, clientConfig, share: new PoolShare(POOL_MAX, TENANT_POOL_SHARE) };
  pools.set(key, entry);
  return entry;
}

/** The server process id pg learned at connect time (missing from @types/pg). */
function backendPid(client: pg.PoolClient): number | null {
  return (client as unknown as { processID?: number | null }).processID ?? null;
}

/** Cancels through a fresh connection: the pool may be exhausted by the very queries to cancel. */
async function cancelBackend(clientConfig: pg.ClientConfig, pid: number | null): Promise<void> {
  if (pid === null) return;
  const admin = new pg.Client(clientConfig);
  admin.on('error', () => undefined);
  try {
    await admin.connect();
    await admin.query('SELECT pg_cancel_backend($1)', [pid]);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

/** Rejects with the abort reason as soon as the signal fires; `onLate` disposes of the result. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal, onLate: (late: Promise<T>) => void): Promise<T> {
  if (signal.aborted) {
    onLate(work);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      onLate(work);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Keeps the output plain JSON so it survives Temporal's payload converter unchanged. */
function toJsonRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) out[key] = toJsonValue(value);
  return out;
}

function toJsonValue(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  // Postgres' own hex format, which it accepts back as a bytea parameter.
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(toJsonValue);
  return value;
}

/** SQLSTATEs worth another attempt: the same statement may well succeed a moment later. */
const RETRYABLE_QUERY_STATES = new Set(['40001', '40P01', '55P03', '55006']);
const TIMEOUT_STATES = new Set(['57014']);

function classifyError(err: unknown): ApplicationFailure {
  const error = err instanceof Error ? err : new Error(String(err));
  const code = (err as { code?: unknown }).code;
  const sqlState = err instanceof pg.DatabaseError && typeof code === 'string' ? code : undefined;
  if (sqlState === undefined) {
    return ApplicationFailure.create({
      type: 'PostgresUnavailable',
      message: `postgres: ${error.message}`,
      nonRetryable: false,
      details: [{ code: typeof code === 'string' ? code : null }],
      cause: error,
    });
  }
  const db = err as pg.DatabaseError;
  const details = [
    {
      code: sqlState,
      detail: db.detail,
      hint: db.hint,
      position: db.position,
      constraint: db.constraint,
      table: db.table,
      column: db.column,
    },
  ];
  const message = `postgres ${sqlState}: ${error.message}`;
  const sqlClass = sqlState.slice(0, 2);
  if (TIMEOUT_STATES.has(sqlState)) {
    return ApplicationFailure.create({ type: 'PostgresTimeoutError', message, nonRetryable: false, details });
  }
  // 08P01 is a protocol violation such as a wrong parameter count: a bug in the query, not the link.
  if (sqlState !== '08P01' && ['08', '53', '57', '58'].includes(sqlClass)) {
    return ApplicationFailure.create({ type: 'PostgresUnavailable', message, nonRetryable: false, details });
  }
  if (RETRYABLE_QUERY_STATES.has(sqlState) || sqlClass === 'XX') {
    return ApplicationFailure.create({ type: 'PostgresQueryError', message, nonRetryable: false, details });
  }
  // Syntax, undefined objects, bad data, constraints, auth, raised exceptions: retrying won't help.
  const authOrCatalog = sqlClass === '28' || sqlState === '3D000';
  return ApplicationFailure.create({
    type: authOrCatalog ? 'PostgresUnavailable' : 'PostgresQueryError',
    message,
    nonRetryable: true,
    details,
  });
}
