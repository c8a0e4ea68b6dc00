import { afterEach, describe, expect, it } from 'vitest';
import {
  guardTenantDatabaseUrl,
  parseTenantDatabaseUrl,
  pinnedClientConfig,
  TENANT_CONNECT_TIMEOUT_MS,
  TenantDatabaseUrlRefused,
  type AddressLookup,
} from '../../src/activities/nodes/pg-connection-guard';
import { ALLOW_LOOPBACK_ENV, ALLOW_PRIVATE_ENV } from '../../src/activities/nodes/ssrf';
import { saveEnv } from '../support/env';

const restoreEnv = saveEnv(ALLOW_PRIVATE_ENV, ALLOW_LOOPBACK_ENV);
afterEach(restoreEnv);

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TenantDatabaseUrlRefused);
    return (err as Error).message;
  }
  return expect.fail('expected a refusal');
}

async function asyncRefusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => expect.fail('expected a refusal'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TenantDatabaseUrlRefused);
  return (err as Error).message;
}

/** A resolver with fixed answers: tests never ask real DNS for a name they made up. */
const answers =
  (table: Record<string, string[]>): AddressLookup =>
  async (hostname) =>
    table[hostname] ?? [];

describe('parseTenantDatabaseUrl', () => {
  it('reads a plain URL, defaulting port and database', () => {
    expect(parseTenantDatabaseUrl('postgres://alice:s%40cret@db.example.com/reports')).toEqual({
      hostname: 'db.example.com',
      port: 5432,
      user: 'alice',
      password: 's@cret',
      database: 'reports',
      ssl: 'disable',
    });
    expect(parseTenantDatabaseUrl('postgresql://bob@[2001:db8::1]:6543')).toMatchObject({ hostname: '2001:db8::1', port: 6543, database: 'bob', password: '' });
  });

  it('takes the allowed parameters: sslmode, ssl, application_name, connect_timeout (capped)', () => {
    expect(parseTenantDatabaseUrl('postgres://u@h.example/d?sslmode=verify-full&application_name=x&connect_timeout=3')).toMatchObject({
      ssl: 'verify',
      applicationName: 'x',
      connectTimeoutMs: 3_000,
    });
    expect(parseTenantDatabaseUrl('postgres://u@h.example/d?sslmode=no-verify').ssl).toBe('no-verify');
    expect(parseTenantDatabaseUrl('postgres://u@h.example/d?ssl=true').ssl).toBe('verify');
    expect(parseTenantDatabaseUrl('postgres://u@h.example/d?ssl=true&sslmode=disable').ssl).toBe('disable');
    expect(parseTenantDatabaseUrl('postgres://u@h.example/d?connect_timeout=0').connectTimeoutMs).toBe(TENANT_CONNECT_TIMEOUT_MS);
    expect(parseTenantDatabaseUrl('postgres://u@h.example/d?connect_timeout=3600').connectTimeoutMs).toBe(TENANT_CONNECT_TIMEOUT_MS);
  });

  it.each([
    ['host=/var/run/postgresql', 'postgres://u@h.example/d?host=/var/run/postgresql'],
    ['host=localhost', 'postgres://u@h.example/d?host=localhost'],
    ['hostaddr', 'postgres://u@h.example/d?hostaddr=127.0.0.1'],
    ['port', 'postgres://u@h.example/d?port=5433'],
    ['sslrootcert', 'postgres://u@h.example/d?sslmode=verify-full&sslrootcert=/etc/passwd'],
    ['sslcert', 'postgres://u@h.example/d?sslcert=/etc/ssl/private/key.pem'],
    ['sslkey', 'postgres://u@h.example/d?sslkey=/root/.ssh/id_rsa'],
    ['sslcrl', 'postgres://u@h.example/d?sslcrl=/etc/x'],
    ['passfile', 'postgres://u@h.example/d?passfile=/root/.pgpass'],
    ['service', 'postgres://u@h.example/d?service=prod'],
    ['options', 'postgres://u@h.example/d?options=-c%20log_statement%3Dall'],
    ['replication', 'postgres://u@h.example/d?replication=database'],
    ['user', 'postgres://u@h.example/d?user=postgres'],
    ['password', 'postgres://u@h.example/d?password=x'],
    ['uselibpqcompat', 'postgres://u@h.example/d?uselibpqcompat=true'],
    ['sslnegotiation', 'postgres://u@h.example/d?sslnegotiation=direct'],
  ])('refuses the parameter %s', (name, url) => {
    expect(refusal(() => parseTenantDatabaseUrl(url))).toMatch(/query parameter .* is not allowed/);
  });

  it.each([
    ['an encoded socket path as host', 'postgres://u@%2Fvar%2Frun%2Fpostgresql/d'],
    ['a lower-case encoded socket path', 'postgres://u@%2fvar%2frun%2fpostgresql/d'],
    ['an empty host', 'postgres://u@/d'],
    ['an empty host with a socket query', 'postgres:///d?host=/tmp'],
    ['a raw socket path', '/var/run/postgresql d'],
    ['a socket: URL', 'socket://u@/var/run/postgresql?db=d'],
    ['another scheme', 'mysql://u@h.example/d'],
    ['several hosts', 'postgres://u@h1.example,h2.example/d'],
    ['several hosts with ports', 'postgres://u@h1.example:5432,h2.example:5433/d'],
    ['no user', 'postgres://h.example/d'],
    ['port 0', 'postgres://u@h.example:0/d'],
    ['a port out of range', 'postgres://u@h.example:70000/d'],
    ['a fragment', 'postgres://u@h.example/d#x'],
    ['a duplicated parameter', 'postgres://u@h.example/d?sslmode=disable&sslmode=require'],
    ['an unknown sslmode', 'postgres://u@h.example/d?sslmode=allow-everything'],
    ['a host with odd characters', 'postgres://u@h%00x.example/d'],
    ['a host with a space', 'postgres://u@h%20x.example/d'],
    ['broken percent-encoding', 'postgres://u%ZZ@h.example/d'],
  ])('refuses %s', (_what, url) => {
    refusal(() => parseTenantDatabaseUrl(url));
  });

  it.each([
    ['CRLF in the user', 'postgres://u%0D%0AX-Injected:%201@h.example/d'],
    ['LF in the database', 'postgres://u@h.example/d%0Ainjected'],
    ['NUL in the password', 'postgres://u:p%00w@h.example/d'],
    ['DEL in the database', 'postgres://u@h.example/d%7F'],
    ['a tab in the user', 'postgres://u%09@h.example/d'],
    ['a raw CR in the URL', 'postgres://u@h.example/d\rx'],
    ['a raw tab in the host (the URL parser would drop it)', 'postgres://u@h.exa\tmple/d'],
    ['CRLF in application_name', 'postgres://u@h.example/d?application_name=a%0D%0Ab'],
  ])('refuses control characters: %s', (_what, url) => {
    expect(refusal(() => parseTenantDatabaseUrl(url))).toMatch(/control characters/);
  });

  it('does not quote an odd parameter name back', () => {
    expect(refusal(() => parseTenantDatabaseUrl('postgres://u@h.example/d?%3Cscript%3E=1'))).toContain('(unprintable)');
  });
});

describe('guardTenantDatabaseUrl', () => {
  it('refuses loopback, private, link-local and metadata hosts, written out or resolved', async () => {
    delete process.env[ALLOW_PRIVATE_ENV];
    delete process.env[ALLOW_LOOPBACK_ENV];
    for (const host of ['127.0.0.1', '[::1]', '10.1.2.3', '192.168.0.10', '169.254.169.254', '168.63.129.16', '[::ffff:127.0.0.1]', '0.0.0.0']) {
      expect(await asyncRefusal(guardTenantDatabaseUrl(`postgres://u@${host}/d`)), host).toMatch(/address/);
    }
    const lookup = answers({ 'internal.example': ['10.0.0.5'], 'localhost.example': ['127.0.0.1'] });
    const internal = await asyncRefusal(guardTenantDatabaseUrl('postgres://u@internal.example/d', lookup));
    expect(internal).toContain('"internal.example" does not resolve to public addresses only');
    // The internal address is not told back.
    expect(internal).not.toContain('10.0.0.5');
    await asyncRefusal(guardTenantDatabaseUrl('postgres://u@localhost.example/d', lookup));
  });

  it('refuses a name with one public and one private answer (every address is checked)', async () => {
    delete process.env[ALLOW_PRIVATE_ENV];
    const lookup = answers({ 'mixed.example': ['93.184.216.34', '127.0.0.1'] });
    expect(await asyncRefusal(guardTenantDatabaseUrl('postgres://u@mixed.example/d', lookup))).toContain('does not resolve to public addresses only');
  });

  it('refuses a name that does not resolve, and one whose resolver fails, exactly like a private one', async () => {
    const missing = await asyncRefusal(guardTenantDatabaseUrl('postgres://u@a.example/d', answers({})));
    const failing = await asyncRefusal(
      guardTenantDatabaseUrl('postgres://u@a.example/d', async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
      }),
    );
    const internal = await asyncRefusal(guardTenantDatabaseUrl('postgres://u@a.example/d', answers({ 'a.example': ['10.0.0.5'] })));
    expect(new Set([missing, failing, internal]).size).toBe(1);
  });

  it('pins a public name to the address it resolved to', async () => {
    delete process.env[ALLOW_PRIVATE_ENV];
    let calls = 0;
    const rebinding: AddressLookup = async () => (calls++ === 0 ? ['93.184.216.34'] : ['127.0.0.1']);
    const pinned = await guardTenantDatabaseUrl('postgres://u:pw@db.example/d?sslmode=verify-full', rebinding);
    expect(pinned.address).toBe('93.184.216.34');
    const config = pinnedClientConfig(pinned);
    // pg connects to `host`: the checked IP. The certificate is checked against the name.
    expect(config).toMatchObject({ host: '93.184.216.34', port: 5432, user: 'u', database: 'd', ssl: { rejectUnauthorized: true, servername: 'db.example' } });
    expect(config).not.toHaveProperty('connectionString');
    expect(calls).toBe(1);
  });

  it('sets every field pg would read from the environment, and the password as a function', async () => {
    const pinned = await guardTenantDatabaseUrl('postgres://u@93.184.216.34/d');
    const config = pinnedClientConfig(pinned);
    expect(config.ssl).toBe(false);
    expect(typeof config.password).toBe('function');
    // An empty password stays empty: pg would take PGPASSWORD or ~/.pgpass for a missing one.
    expect((config.password as () => string)()).toBe('');
    expect(config.connectionTimeoutMillis).toBe(TENANT_CONNECT_TIMEOUT_MS);
    const ip = pinnedClientConfig(await guardTenantDatabaseUrl('postgres://u@93.184.216.34/d?sslmode=require'));
    expect(ip.ssl).toEqual({ rejectUnauthorized: true });
  });

  it('lets loopback through with TRELLIS_HTTP_ALLOW_LOOPBACK=1 and private ranges only with TRELLIS_HTTP_ALLOW_PRIVATE=1', async () => {
    delete process.env[ALLOW_PRIVATE_ENV];
    process.env[ALLOW_LOOPBACK_ENV] = '1';
    expect((await guardTenantDatabaseUrl('postgres://u@127.0.0.1:5432/d')).address).toBe('127.0.0.1');
    await asyncRefusal(guardTenantDatabaseUrl('postgres://u@10.0.0.1/d'));
    delete process.env[ALLOW_LOOPBACK_ENV];
    process.env[ALLOW_PRIVATE_ENV] = '1';
    expect((await guardTenantDatabaseUrl('postgres://u@10.0.0.1/d')).address).toBe('10.0.0.1');
    // Socket paths and file parameters stay refused whatever the address policy.
    await asyncRefusal(guardTenantDatabaseUrl('postgres://u@%2Ftmp/d'));
    await asyncRefusal(guardTenantDatabaseUrl('postgres://u@10.0.0.1/d?sslrootcert=/etc/passwd'));
  });
});
