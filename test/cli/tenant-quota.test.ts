import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/services/api-keys';
import { trellis } from '../support/cli';
import { createTestDatabase, type TestDatabase } from '../support/database';

let database: TestDatabase;
let tenantId: string;
beforeAll(async () => {
  database = await createTestDatabase();
  ({ tenantId } = await createApiKey(database.db, 'q1'));
});
afterAll(async () => {
  await database?.drop();
});

describe('trellis tenant quota', () => {
  it('sets a tenant override, prints effective quotas with usage and source, and goes back to the default', async () => {
    const env = { DATABASE_URL: database.url, TRELLIS_QUOTA_SCHEDULES: '7' };
    const set = await trellis(['tenant', 'quota', '--tenant', 'q1', '--workflows', '5', '--stored-bytes', '2048'], env);
    expect(set.code, set.stderr).toBe(0);
    const rows = await database.db.tenantQuota.findMany({ where: { tenantId }, orderBy: { quota: 'asc' } });
    expect(rows.map((r) => [r.quota, Number(r.limit)])).toEqual([['STORED_BYTES', 2048], ['WORKFLOWS', 5]]);
    expect(set.stdout).toMatch(/WORKFLOWS\s+5\s+0 used\s+\(.*from tenant\)/);
    expect(set.stdout).toMatch(/SCHEDULES\s+7\s+0 used\s+\(.*from TRELLIS_QUOTA_SCHEDULES\)/);
    expect(set.stdout).toMatch(/SECRETS\s+500\s+0 used\s+\(.*from default\)/);
    expect(set.stdout).toMatch(/STREAMS\s+100\s+counted by each API process/);

    const cleared = await trellis(['tenant', 'quota', '--tenant', 'q1', '--workflows', 'default'], { DATABASE_URL: database.url });
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(cleared.stdout).toMatch(/WORKFLOWS\s+1000\s+0 used\s+\(.*from default\)/);
    expect(await database.db.tenantQuota.count({ where: { tenantId } })).toBe(1);
  });

  it('refuses bad values, unknown tenants and a bad TRELLIS_QUOTA_* with one line naming it', async () => {
    const bad = await trellis(['tenant', 'quota', '--tenant', 'q1', '--secrets=-1'], { DATABASE_URL: database.url });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--secrets takes a whole number');
    const unknown = await trellis(['tenant', 'quota', '--tenant', 'nobody'], { DATABASE_URL: database.url });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no tenant named "nobody"');
    const env = await trellis(['tenant', 'quota', '--tenant', 'q1'], { DATABASE_URL: database.url, TRELLIS_QUOTA_STREAMS: 'lots' });
    expect(env.code).toBe(1);
    expect(env.stderr.trim().split('\n')).toHaveLength(1);
    expect(env.stderr).toContain('TRELLIS_QUOTA_STREAMS must be a whole number');
  });

  it('trellis api stops at start on a bad TRELLIS_QUOTA_* with one line naming the variable', async () => {
    const result = await trellis(['api'], { DATABASE_URL: database.url, PORT: '0', TEMPORAL_ADDRESS: '127.0.0.1:1', TRELLIS_QUOTA_WORKFLOWS: '1.5' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('TRELLIS_QUOTA_WORKFLOWS must be a whole number');
  });
});
