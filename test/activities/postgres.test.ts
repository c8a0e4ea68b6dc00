import { randomBytes } from 'node:crypto';
import { CancelledFailure } from '@temporalio/common';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePostgresPools, postgresNodeType } from '../../src/activities/nodes/postgres';
import { toActivity } from '../../src/activities/registry';
import type { NodeActivityResult } from '../../src/contracts/node-activity';
import { failure, newActivityEnv } from '../support/activity';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/db/embedded-postgres';

const activity = toActivity(postgresNodeType);

// Unique names so the suite can share an external DATABASE_URL with other runs.
const suffix = randomBytes(4).toString('hex');
const table = `trellis_pg_test_${suffix}`;
const appName = `trellis-test-${suffix}`;

let db: EmbeddedPostgresHandle;
let admin: pg.Client;

beforeAll(async () => {
  db = await startEmbeddedPostgres();
  const url = new URL(db.url);
  url.searchParams.set('application_name', appName);
  process.env.TRELLIS_PG_MAIN_URL = url.toString();
  admin = new pg.Client(db.url);
  await admin.connect();
  await admin.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, name text NOT NULL UNIQUE, score int)`);
});

afterAll(async () => {
  delete process.env.TRELLIS_PG_MAIN_URL;
  await closePostgresPools();
  await admin?.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  await admin?.end();
  await db?.stop();
});

function run(config: Record<string, unknown>, env = newActivityEnv()): Promise<NodeActivityResult> {
  return env.run(activity, { nodeId: 'q', executionId: 'e', config }) as Promise<NodeActivityResult>;
}

describe('postgres node', () => {
  it("treats an injection attempt passed as a parameter as a plain value (issue 9's SQL injection)", async () => {
    await admin.query(`INSERT INTO ${table} (name, score) VALUES ('inj-a', 1), ('inj-b', 2) ON CONFLICT DO NOTHING`);
    const result = await run({ connection: 'main', sql: `SELECT name FROM ${table} WHERE name = $1`, params: ["zzz' or '1'='1"] });
    expect(result.output).toEqual({ rows: [], rowCount: 0 });
    await admin.query(`DELETE FROM ${table} WHERE name LIKE 'inj-%'`);
  });

  it('selects with params and reports the attempt', async () => {
    const result = await run({ connection: 'main', sql: 'SELECT $1::int + $2::int AS sum, $3::text AS label', params: [2, 3, 'x'] });
    expect(result).toEqual({ output: { rows: [{ sum: 5, label: 'x' }], rowCount: 1 }, attempt: 2 });
  });

  it('inserts with RETURNING and reports rowCount', async () => {
    const result = await run({
      connection: 'main',
      sql: `INSERT INTO ${table} (name, score) VALUES ($1, $2), ($3, $4) RETURNING id, name`,
      params: ['alice', 10, 'bob', null],
    });
    const output = result.output as { rows: { id: number; name: string }[]; rowCount: number };
    expect(output.rowCount).toBe(2);
    expect(output.rows.map((r) => r.name)).toEqual(['alice', 'bob']);
    const update = await run({ connection: 'main', sql: `UPDATE ${table} SET score = score + 1 WHERE score IS NOT NULL` });
    expect(update.output).toEqual({ rows: [], rowCount: 1 });
  });

  it('treats the connection name case-insensitively for the env var', async () => {
    const result = await run({ connection: 'Main', sql: 'SELECT 1 AS one' });
    expect(result.output).toEqual({ rows: [{ one: 1 }], rowCount: 1 });
  });

  it('returns JSON-safe values: timestamps as ISO strings, dates as written, bytea as hex', async () => {
    const result = await run({
      connection: 'main',
      sql: `SELECT '2024-05-06T07:08:09Z'::timestamptz AS at, '2024-05-06'::date AS day,
                   '2024-05-06 07:08:09'::timestamp AS local, '\\xdead'::bytea AS bytes, '{"a":[1]}'::jsonb AS doc,
                   9007199254740993::bigint AS big`,
    });
    expect(result.output).toEqual({
      rows: [{ at: '2024-05-06T07:08:09.000Z', day: '2024-05-06', local: '2024-05-06 07:08:09', bytes: '\\xdead', doc: { a: [1] }, big: '9007199254740993' }],
      rowCount: 1,
    });
  });

  it('stores an injection attempt in a param verbatim', async () => {
    const evil = `x'; DROP TABLE ${table}; --`;
    await run({ connection: 'main', sql: `INSERT INTO ${table} (name) VALUES ($1)`, params: [evil] });
    const { rows } = await admin.query(`SELECT name FROM ${table} WHERE name = $1`, [evil]);
    expect(rows).toEqual([{ name: evil }]);
  });

  it('an unknown connection name is a ConfigError naming the env var', async () => {
    const err = await failure(run({ connection: 'nope', sql: 'SELECT 1' }));
    expect(err.type).toBe('ConfigError');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('TRELLIS_PG_NOPE_URL');
  });

  it('rejects a connection name outside the pattern and unknown config keys', async () => {
    for (const config of [
      { connection: 'postgres://u:p@h/db', sql: 'SELECT 1' },
      { connection: 'main', sql: 'SELECT 1', url: 'postgres://x' },
      { connection: 'main', sql: 'SELECT 1', params: 'not-an-array' },
    ]) {
      const err = await failure(run(config));
      expect(err.type).toBe('ConfigError');
    }
  });

  it('a syntax error is a non-retryable PostgresQueryError with SQLSTATE 42601', async () => {
    const err = await failure(run({ connection: 'main', sql: 'SELEC 1' }));
    expect(err.type).toBe('PostgresQueryError');
    expect(err.nonRetryable).toBe(true);
    expect(err.details?.[0]).toMatchObject({ attempt: 2, code: '42601' });
  });

  it('a constraint violation is non-retryable and names the constraint', async () => {
    await run({ connection: 'main', sql: `INSERT INTO ${table} (name) VALUES ($1) ON CONFLICT DO NOTHING`, params: ['dup'] });
    const err = await failure(run({ connection: 'main', sql: `INSERT INTO ${table} (name) VALUES ($1)`, params: ['dup'] }));
    expect(err.type).toBe('PostgresQueryError');
    expect(err.nonRetryable).toBe(true);
    expect(err.details?.[0]).toMatchObject({ code: '23505', constraint: `${table}_name_key` });
  });

  it('a wrong parameter count is non-retryable, not a connection problem', async () => {
    const err = await failure(run({ connection: 'main', sql: 'SELECT $1::int, $2::int', params: [1] }));
    expect(err.type).toBe('PostgresQueryError');
    expect(err.nonRetryable).toBe(true);
  });

  it('timeoutMs sets statement_timeout for that query only', async () => {
    const started = Date.now();
    const err = await failure(run({ connection: 'main', sql: 'SELECT pg_sleep(5)', timeoutMs: 200 }));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(err.type).toBe('PostgresTimeoutError');
    expect(err.nonRetryable).toBe(false);
    expect(err.details?.[0]).toMatchObject({ code: '57014' });
    // The pool's connections must not keep the setting.
    for (let i = 0; i < 3; i++) {
      const result = await run({ connection: 'main', sql: 'SHOW statement_timeout' });
      expect(result.output).toEqual({ rows: [{ statement_timeout: '0' }], rowCount: 1 });
    }
    const ok = await run({ connection: 'main', sql: 'SELECT 1 AS one', timeoutMs: 1_000 });
    expect(ok.output).toEqual({ rows: [{ one: 1 }], rowCount: 1 });
  });

  it('an unreachable server is a retryable PostgresUnavailable', async () => {
    process.env.TRELLIS_PG_DOWN_URL = 'postgres://postgres:postgres@127.0.0.1:1/postgres';
    try {
      const err = await failure(run({ connection: 'down', sql: 'SELECT 1' }));
      expect(err.type).toBe('PostgresUnavailable');
      expect(err.nonRetryable).toBe(false);
    } finally {
      delete process.env.TRELLIS_PG_DOWN_URL;
    }
  });

  it('env.cancel() cancels a running query on the server', async () => {
    const env = newActivityEnv();
    const started = Date.now();
    const pending = run({ connection: 'main', sql: 'SELECT pg_sleep(30)' }, env);
    await waitFor(async () => (await sleepingBackends()).length === 1, 5_000);
    env.cancel();
    await expect(pending).rejects.toBeInstanceOf(CancelledFailure);
    expect(Date.now() - started).toBeLessThan(10_000);
    await waitFor(async () => (await sleepingBackends()).length === 0, 5_000);
  });
});

/** Backends of this suite's pool that are running pg_sleep(30). */
async function sleepingBackends(): Promise<unknown[]> {
  const { rows } = await admin.query(
    `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE 'SELECT pg_sleep(30)%'`,
    [appName],
  );
  return rows;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
