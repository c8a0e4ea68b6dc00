import net from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { closePostgresPools, postgresNodeType, TENANT_POOL_SHARE } from '../../src/activities/nodes/postgres';
import { guardTenantDatabaseUrl, pinnedClientConfig } from '../../src/activities/nodes/pg-connection-guard';
import { usePostgresTenantNames } from '../../src/activities/nodes/pg-deployment-access';
import { ALLOW_LOOPBACK_ENV, ALLOW_PRIVATE_ENV } from '../../src/activities/nodes/ssrf';
import { toActivity } from '../../src/activities/registry';
import type { SecretSource } from '../../src/activities/secrets';
import type { NodeActivityResult } from '../../src/contracts/node-activity';
import { failure, newActivityEnv } from '../support/activity';
import { saveEnv } from '../support/env';

/*
 * Issue 22 items 1 and 2 against the run's real Postgres, through the postgres node's activity
 * with the production address policy (neither TRELLIS_HTTP_ALLOW_* set unless a test says so).
 * "Nothing connected" is measured where the connection would land: a TCP listener on 127.0.0.1
 * counting accepts, and pg_stat_activity.
 */
const TENANT_A = '00000000-0000-4000-8000-00000000000a';
const TENANT_B = '00000000-0000-4000-8000-00000000000b';
const suffix = randomBytes(4).toString('hex');
const appName = `trellis-tenant-url-${suffix}`;
/** The tenant's own login: not a superuser, and a password the redactor cannot mistake for prose. */
const role = `tenant_role_${suffix}`;
const rolePassword = randomBytes(12).toString('hex');

/** Tenant secrets, per tenant: what secretSource would return from the database. */
const secrets = new Map<string, Map<string, string>>();
const source: SecretSource = {
  async values(tenantId, names) {
    const mine = secrets.get(tenantId) ?? new Map<string, string>();
    return new Map(names.filter((n) => mine.has(n)).map((n) => [n, mine.get(n)!]));
  },
};
const activity = toActivity(postgresNodeType, undefined, source);

let serverUrl: URL;
let admin: pg.Client;
let listener: net.Server;
let listenerPort: number;
let accepts = 0;
/** What the listener does with a connection: hang up at once, or say nothing. */
let listenerMode: 'close' | 'silent' = 'close';
const held: net.Socket[] = [];
let closedPort: number;

const restoreEnv = saveEnv(ALLOW_PRIVATE_ENV, ALLOW_LOOPBACK_ENV);

beforeAll(async () => {
  serverUrl = new URL(inject('postgresUrl'));
  admin = new pg.Client(serverUrl.toString());
  await admin.connect();
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${rolePassword}'`);
  listener = net.createServer((socket) => {
    accepts++;
    if (listenerMode === 'close') socket.destroy();
    else held.push(socket);
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  listenerPort = (listener.address() as net.AddressInfo).port;
  // A port that was just free and is closed again: nothing listens there.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});

beforeEach(() => {
  delete process.env[ALLOW_PRIVATE_ENV];
  delete process.env[ALLOW_LOOPBACK_ENV];
  secrets.clear();
  accepts = 0;
  listenerMode = 'close';
});

afterEach(async () => {
  await closePostgresPools();
  for (const socket of held.splice(0)) socket.destroy();
  for (const name of ['TRELLIS_PG_SHARED_URL', 'TRELLIS_PG_SHARED_TENANTS']) delete process.env[name];
  usePostgresTenantNames(undefined);
});

afterAll(async () => {
  restoreEnv();
  await admin?.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
  await admin?.end();
  await new Promise((resolve) => listener?.close(resolve));
});

function setSecret(tenantId: string, name: string, value: string): void {
  if (!secrets.has(tenantId)) secrets.set(tenantId, new Map());
  secrets.get(tenantId)!.set(name, value);
}

function run(tenantId: string, config: Record<string, unknown>, env = newActivityEnv()): Promise<NodeActivityResult> {
  return env.run(activity, { nodeId: 'q', executionId: `e-${suffix}`, tenantId, config }) as Promise<NodeActivityResult>;
}

/** The run's Postgres with other credentials, database or query. */
function databaseUrl(change: { user?: string; password?: string; database?: string; port?: number; query?: string } = {}): string {
  const url = new URL(serverUrl.toString());
  url.username = role;
  url.password = rolePassword;
  if (change.user !== undefined) url.username = change.user;
  if (change.password !== undefined) url.password = change.password;
  if (change.database !== undefined) url.pathname = `/${change.database}`;
  if (change.port !== undefined) url.port = String(change.port);
  url.search = change.query ?? `application_name=${appName}`;
  return url.toString();
}

async function backendsOfThisSuite(): Promise<number> {
  const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [appName]);
  return rows[0]!.n;
}

async function tenantUrlFailure(url: string): Promise<{ type: string | undefined; message: string; nonRetryable: boolean }> {
  setSecret(TENANT_B, 'PG_X_URL', url);
  const err = await failure(run(TENANT_B, { connection: 'x', sql: 'SELECT 1' }));
  return { type: err.type ?? undefined, message: err.message, nonRetryable: err.nonRetryable === true };
}

describe('a tenant database URL under the production address policy', () => {
  it("refuses the platform's own database on 127.0.0.1 before connecting (the takeover of issue 22)", async () => {
    const refused = await tenantUrlFailure(databaseUrl());
    expect(refused.type).toBe('PostgresConnectionRefused');
    expect(refused.nonRetryable).toBe(true);
    expect(refused.message).toMatch(/the host is a loopback address/);
    expect(await backendsOfThisSuite()).toBe(0);
    // And the same for a listener that counts: no TCP connection was made.
    await tenantUrlFailure(`postgres://u:p@127.0.0.1:${listenerPort}/d`);
    await tenantUrlFailure(`postgres://u:p@localhost:${listenerPort}/d`);
    await tenantUrlFailure(`postgres://u:p@[::ffff:127.0.0.1]:${listenerPort}/d`);
    expect(accepts).toBe(0);
  });

  it.each([
    ['a socket path in host=', `postgres://u@h.example/d?host=/var/run/postgresql`],
    ['an encoded socket path as host', `postgres://u@%2Fvar%2Frun%2Fpostgresql/d`],
    ['an empty host', `postgres://u@/d?host=/tmp`],
    ['sslrootcert', `postgres://u@93.184.216.34/d?sslmode=verify-full&sslrootcert=/etc/passwd`],
    ['sslcert', `postgres://u@93.184.216.34/d?sslcert=/etc/passwd`],
    ['sslkey', `postgres://u@93.184.216.34/d?sslkey=/etc/passwd`],
    ['passfile', `postgres://u@93.184.216.34/d?passfile=/etc/passwd`],
    ['service', `postgres://u@93.184.216.34/d?service=x`],
    ['CRLF in the user', `postgres://u%0D%0AX:1@93.184.216.34/d`],
    ['CRLF in the database', `postgres://u@93.184.216.34/d%0D%0Ax`],
  ])('refuses %s with the same error, before any connection', async (_what, url) => {
    // Loopback allowed, so that only the URL check stands between the URL and the listener.
    process.env[ALLOW_LOOPBACK_ENV] = '1';
    const refused = await tenantUrlFailure(url.replace('93.184.216.34', `127.0.0.1:${listenerPort}`));
    expect(refused.type).toBe('PostgresConnectionRefused');
    expect(refused.nonRetryable).toBe(true);
    expect(refused.message).not.toContain('/etc/passwd');
    expect(refused.message).not.toMatch(/ENOENT|no such file|Peer authentication/i);
    expect(accepts).toBe(0);
  });
});

describe('a tenant database URL that may connect (loopback allowed)', () => {
  beforeEach(() => {
    process.env[ALLOW_LOOPBACK_ENV] = '1';
  });

  it('connects, pinned to the checked address, and SQL errors after connecting stay as they are', async () => {
    setSecret(TENANT_B, 'PG_X_URL', databaseUrl());
    const result = await run(TENANT_B, { connection: 'x', sql: 'SELECT host(inet_server_addr()) AS addr, current_user AS who' });
    expect(result.output).toEqual({ rows: [{ addr: '127.0.0.1', who: role }], rowCount: 1 });
    const err = await failure(run(TENANT_B, { connection: 'x', sql: 'SELEC 1' }));
    expect(err.type).toBe('PostgresQueryError');
  });

  it('answers an open port, a closed port, a silent server, a wrong password and an unknown database alike, in the same time', async () => {
    const messages = new Map<string, string>();
    const check = async (what: string, url: string) => {
      // Every failure takes the whole connect timeout (1 s here), so how long it took is no
      // port scanner either: a closed port refuses at once, a silent one times out.
      const started = Date.now();
      const refused = await tenantUrlFailure(url.includes('connect_timeout=') ? url : `${url}${url.includes('?') ? '&' : '?'}connect_timeout=1`);
      expect(Date.now() - started, what).toBeGreaterThanOrEqual(990);
      expect(refused.type, what).toBe('PostgresConnectionRefused');
      expect(refused.nonRetryable, what).toBe(false);
      messages.set(what, refused.message);
    };
    await check('open port that hangs up', `postgres://u:p@127.0.0.1:${listenerPort}/d`);
    expect(accepts).toBe(1);
    await check('closed port', `postgres://u:p@127.0.0.1:${closedPort}/d`);
    listenerMode = 'silent';
    await check('silent server', `postgres://u:p@127.0.0.1:${listenerPort}/d?connect_timeout=1`);
    await check('wrong password', databaseUrl({ password: 'wrong' }));
    await check('unknown user', databaseUrl({ user: `nobody_${suffix}` }));
    await check('unknown database', databaseUrl({ database: `missing_${suffix}` }));
    expect(new Set(messages.values()).size, JSON.stringify([...messages], null, 1)).toBe(1);
    const [message] = messages.values();
    for (const leak of [String(closedPort), String(listenerPort), 'ECONNREFUSED', 'password authentication', 'does not exist', 'timeout', 'terminated']) {
      expect(message).not.toContain(leak);
    }
  }, 30_000);

  it('pg connects to the pinned address, not to a second answer for the name', async () => {
    let lookups = 0;
    // A name that exists only in this resolver: first answer loopback (allowed here), then a
    // refused metadata address, as a rebinding DNS server would.
    const pinned = await guardTenantDatabaseUrl(`${databaseUrl().replace('127.0.0.1', 'tenant-db.test')}`, async () =>
      lookups++ === 0 ? ['127.0.0.1'] : ['169.254.169.254'],
    );
    const client = new pg.Client(pinnedClientConfig(pinned));
    await client.connect();
    try {
      const { rows } = await client.query<{ addr: string }>('SELECT host(inet_server_addr()) AS addr');
      expect(rows).toEqual([{ addr: '127.0.0.1' }]);
    } finally {
      await client.end();
    }
    expect(lookups).toBe(1);
  });
});

describe('deployment connections (TRELLIS_PG_<NAME>_URL)', () => {
  beforeEach(() => {
    process.env.TRELLIS_PG_SHARED_URL = databaseUrl();
  });

  it('are usable by every tenant by default and only by the tenants TRELLIS_PG_<NAME>_TENANTS lists', async () => {
    expect((await run(TENANT_B, { connection: 'shared', sql: 'SELECT 1 AS one' })).output).toEqual({ rows: [{ one: 1 }], rowCount: 1 });
    usePostgresTenantNames(async (id) => ({ [TENANT_A]: 'acme', [TENANT_B]: 'globex' })[id]);
    process.env.TRELLIS_PG_SHARED_TENANTS = 'acme, initech';
    expect((await run(TENANT_A, { connection: 'shared', sql: 'SELECT 1 AS one' })).output).toEqual({ rows: [{ one: 1 }], rowCount: 1 });
    const err = await failure(run(TENANT_B, { connection: 'shared', sql: 'SELECT 1' }));
    expect(err.type).toBe('ConfigError');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('TRELLIS_PG_SHARED_TENANTS');
    // The list names other tenants: it is not quoted.
    expect(err.message).not.toContain('initech');
    // Ids are accepted too; an empty list admits nobody.
    process.env.TRELLIS_PG_SHARED_TENANTS = TENANT_B;
    expect((await run(TENANT_B, { connection: 'shared', sql: 'SELECT 1 AS one' })).output).toMatchObject({ rowCount: 1 });
    process.env.TRELLIS_PG_SHARED_TENANTS = '';
    expect((await failure(run(TENANT_B, { connection: 'shared', sql: 'SELECT 1' }))).type).toBe('ConfigError');
    process.env.TRELLIS_PG_SHARED_TENANTS = '*';
    expect((await run(TENANT_B, { connection: 'shared', sql: 'SELECT 1 AS one' })).output).toMatchObject({ rowCount: 1 });
  });

  it("give each tenant a share: tenant A's slow queries leave room for tenant B's select 1", async () => {
    const sleeps = Array.from({ length: 10 }, () => run(TENANT_A, { connection: 'shared', sql: 'SELECT pg_sleep(2)' }));
    await waitFor(async () => (await sleepingBackends()) === TENANT_POOL_SHARE, 5_000);
    const started = Date.now();
    const quick = await run(TENANT_B, { connection: 'shared', sql: 'SELECT 1 AS one' });
    const tookMs = Date.now() - started;
    expect(quick.output).toEqual({ rows: [{ one: 1 }], rowCount: 1 });
    expect(tookMs).toBeLessThan(1_000);
    // A never held more than its share while B was there, and all of A's queries still finish.
    expect(await sleepingBackends()).toBeLessThanOrEqual(TENANT_POOL_SHARE);
    const results = await Promise.all(sleeps);
    expect(results).toHaveLength(10);
    console.log(`tenant B's select 1 beside 10 × pg_sleep(2) of tenant A: ${tookMs} ms`);
  }, 30_000);
});

async function sleepingBackends(): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE 'SELECT pg_sleep(2)%'`,
    [appName],
  );
  return rows[0]!.n;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
