import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, tenantForKey } from '../../src/services/api-keys';
import { masterKeyring, putSecret } from '../../src/services/secrets';
import { trellis } from '../support/cli';
import { createTestDatabase, type TestDatabase } from '../support/database';

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

describe('trellis secret', () => {
  const masterKey = Buffer.alloc(32, 7).toString('base64');
  it('set, list and delete a tenant secret; the value is never printed', async () => {
    await trellis(['apikey', 'create', '--tenant', 'sec'], { DATABASE_URL: database.url });
    const env = { DATABASE_URL: database.url, TRELLIS_MASTER_KEY: masterKey };
    const set = await trellis(['secret', 'set', 'API_TOKEN', '--tenant', 'sec', '--value', 'cli-secret-value'], env);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('stored secret API_TOKEN (version 1)');
    const list = await trellis(['secret', 'list', '--tenant', 'sec'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^API_TOKEN\tv1\t\d{4}-/m);
    expect(list.stdout + set.stdout).not.toContain('cli-secret-value');
    const del = await trellis(['secret', 'delete', 'API_TOKEN', '--tenant', 'sec'], env);
    expect(del.code, del.stderr).toBe(0);
    expect((await trellis(['secret', 'list', '--tenant', 'sec'], env)).stdout.trim()).toBe('');
  });

  it('explains a missing master key, a missing tenant and a bad name', async () => {
    const noKey = await trellis(['secret', 'set', 'X_Y', '--tenant', 'sec', '--value', 'v'], { DATABASE_URL: database.url, TRELLIS_MASTER_KEY: undefined });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('TRELLIS_MASTER_KEY is not set');
    const badKey = await trellis(['secret', 'set', 'X_Y', '--tenant', 'sec', '--value', 'v'], { DATABASE_URL: database.url, TRELLIS_MASTER_KEY: 'not-a-key' });
    expect(badKey.code).toBe(1);
    expect(badKey.stderr.trim().split('\n')).toHaveLength(1);
    expect(badKey.stderr).toContain('TRELLIS_MASTER_KEY must be 32 random bytes');
    const noTenant = await trellis(['secret', 'list', '--tenant', 'nobody'], { DATABASE_URL: database.url });
    expect(noTenant.code).toBe(1);
    expect(noTenant.stderr).toContain('unknown tenant "nobody"');
    const badName = await trellis(['secret', 'set', 'bad-name', '--tenant', 'sec', '--value', 'v'], { DATABASE_URL: database.url });
    expect(badName.code).toBe(2);
  });

  it('worker and api refuse to start with secrets stored and no master key, saying what to set', async () => {
    const { tenantId } = await createApiKey(database.db, 'guarded');
    await putSecret(database.db, masterKeyring({ TRELLIS_MASTER_KEY: masterKey })!, tenantId, 'GUARD', 'guarded-value');
    for (const entry of ['worker', 'api']) {
      const res = await trellis([entry], { DATABASE_URL: database.url, TRELLIS_MASTER_KEY: undefined, TEMPORAL_ADDRESS: '127.0.0.1:9', PORT: '0' });
      expect(res.code, `${entry}: ${res.stderr}`).toBe(1);
      expect(res.stderr).toMatch(new RegExp(`trellis ${entry}: \\d+ secret\\(s\\) are stored but TRELLIS_MASTER_KEY is not set`));
    }
  });

  it('rotate-master-key re-wraps under the new key', async () => {
    const newKey = Buffer.alloc(32, 9).toString('base64');
    await trellis(['secret', 'set', 'ROTATED', '--tenant', 'sec', '--value', 'rotate-me'], { DATABASE_URL: database.url, TRELLIS_MASTER_KEY: masterKey });
    const rotate = await trellis(['secret', 'rotate-master-key'], {
      DATABASE_URL: database.url,
      TRELLIS_MASTER_KEY: newKey,
      TRELLIS_PREVIOUS_MASTER_KEYS: masterKey,
    });
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stdout).toMatch(/re-wrapped \d+ secret\(s\)/);
    const rows = await database.db.secret.findMany({ select: { masterKeyId: true } });
    expect(new Set(rows.map((r) => r.masterKeyId)).size).toBe(1);
    const generated = await trellis(['secret', 'generate-key']);
    expect(Buffer.from(generated.stdout.trim(), 'base64').length).toBe(32);
  });
});
