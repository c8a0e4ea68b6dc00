import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { migrate } from '../../src/db/migrator';
import { createTestDatabase, type TestDatabase } from '../support/database';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => t?.drop());

describe('migrator', () => {
  it('records migrations in Prisma\'s table and applies nothing twice', async () => {
    const again = await migrate(t.url);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toContain('20261122000000_init');
    const client = new pg.Client({ connectionString: t.url });
    await client.connect();
    const { rows } = await client.query('SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name');
    await client.end();
    // One row per migration folder, each applied once.
    expect(rows.map((r) => r.migration_name)).toEqual([...again.alreadyApplied].sort());
    expect(rows[0]).toMatchObject({ migration_name: '20261122000000_init', applied_steps_count: 1 });
    expect(rows[0].checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].finished_at).toBeInstanceOf(Date);
  });

  it('serializes concurrent migrators (API and worker starting together)', async () => {
    const results = await Promise.all([migrate(t.url), migrate(t.url), migrate(t.url)]);
    expect(results.every((r) => r.applied.length === 0)).toBe(true);
  });

  it('lets Prisma read and write through the migrated schema', async () => {
    const tenant = await t.db.tenant.create({ data: { id: crypto.randomUUID(), name: 'acme' } });
    const wf = await t.db.workflow.create({ data: { id: 'wf_1', tenantId: tenant.id, name: 'x', latestVersion: 1 } });
    await t.db.workflowVersion.create({ data: { workflowId: wf.id, version: 1, definition: { name: 'x', nodes: [] } } });
    const read = await t.db.workflow.findUnique({ where: { id: 'wf_1' }, include: { versions: true } });
    expect(read?.versions[0]?.definition).toEqual({ name: 'x', nodes: [] });
  });
});
