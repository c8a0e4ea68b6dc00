import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantForKey } from '../../src/services/api-keys';
import { createTestDatabase, type TestDatabase } from '../support/database';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', 'bin', 'trellis.js');

/** The real launcher in a child process, as an operator runs it. */
async function trellis(args: string[], env: Record<string, string | undefined> = {}) {
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: childEnv, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

describe('trellis CLI', () => {
  it('apikey create prints a working key as its last line', async () => {
    const { code, stdout, stderr } = await trellis(['apikey', 'create', '--tenant', 't1', '--name', 'ci'], { DATABASE_URL: database.url });
    expect(code, stderr).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toContain('t1');
    const key = lines[lines.length - 1]!;
    expect(key).toMatch(/^trl_\S+$/);
    const tenantId = await tenantForKey(database.db, key);
    const tenant = await database.db.tenant.findUniqueOrThrow({ where: { name: 't1' } });
    expect(tenantId).toBe(tenant.id);
  });

  it('migrate on a migrated database applies nothing', async () => {
    const { code, stdout, stderr } = await trellis(['migrate'], { DATABASE_URL: database.url });
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/nothing to apply/);
    expect(stdout).not.toMatch(/^applied /m);
  });

  it('explains a missing DATABASE_URL and bad usage with exit code 2', async () => {
    const missing = await trellis(['apikey', 'create', '--tenant', 't1'], { DATABASE_URL: undefined });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('DATABASE_URL is not set');
    const noTenant = await trellis(['apikey', 'create'], { DATABASE_URL: database.url });
    expect(noTenant.code).toBe(2);
    expect(noTenant.stderr).toContain('--tenant');
    const unknown = await trellis(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command');
    const help = await trellis(['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('apikey create --tenant NAME');
  });

  it('apikey list shows ids and names, never keys; revoke makes the key stop working', async () => {
    const created = await trellis(['apikey', 'create', '--tenant', 't2', '--name', 'deploy'], { DATABASE_URL: database.url });
    const key = created.stdout.trimEnd().split('\n').pop()!;
    const listed = await trellis(['apikey', 'list', '--tenant', 't2'], { DATABASE_URL: database.url });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('deploy');
    expect(listed.stdout).not.toContain(key);
    const id = listed.stdout.trim().split(/\s+/)[0]!;
    const revoked = await trellis(['apikey', 'revoke', '--tenant', 't2', '--id', id], { DATABASE_URL: database.url });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(await tenantForKey(database.db, key)).toBeUndefined();
    // Another tenant's key id is not found under this tenant.
    const other = await trellis(['apikey', 'revoke', '--tenant', 't1', '--id', id], { DATABASE_URL: database.url });
    expect(other.code).toBe(2);
  });

  it('tenant rate-limit sets and clears a tenant budget', async () => {
    const set = await trellis(['tenant', 'rate-limit', '--tenant', 't1', '--per-minute', '1200'], { DATABASE_URL: database.url });
    expect(set.code, set.stderr).toBe(0);
    expect((await database.db.tenant.findUniqueOrThrow({ where: { name: 't1' } })).rateLimitPerMinute).toBe(1200);
    const cleared = await trellis(['tenant', 'rate-limit', '--tenant', 't1', '--default'], { DATABASE_URL: database.url });
    expect(cleared.code, cleared.stderr).toBe(0);
    expect((await database.db.tenant.findUniqueOrThrow({ where: { name: 't1' } })).rateLimitPerMinute).toBeNull();
    const bad = await trellis(['tenant', 'rate-limit', '--tenant', 't1', '--per-minute', '-3'], { DATABASE_URL: database.url });
    expect(bad.code).toBe(2);
  });

  it('api on a port that is in use exits non-zero with a clear message', async () => {
    const net = await import('node:net');
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as import('node:net').AddressInfo).port;
    try {
      const result = await trellis(['api'], { DATABASE_URL: database.url, HOST: '127.0.0.1', PORT: String(port), TEMPORAL_ADDRESS: '127.0.0.1:1' });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`127.0.0.1:${port} is already in use`);
    } finally {
      blocker.close();
    }
  });
});
