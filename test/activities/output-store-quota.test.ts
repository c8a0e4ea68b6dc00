import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { defineNodeType, toActivity } from '../../src/activities/registry';
import { PrismaOutputStore, isOutputRef } from '../../src/activities/output-store';
import { createApiKey } from '../../src/services/api-keys';
import { setTenantQuotas } from '../../src/services/quotas';
import { DEFAULT_QUOTAS } from '../../src/domain/quotas';
import type { NodeActivityResult } from '../../src/contracts/node-activity';
import { createTestDatabase, type TestDatabase } from '../support/database';

/** STORED_BYTES: offloaded outputs count against the run's tenant; past it the node fails, once, by name. */
let t: TestDatabase;
let acme: string;
let globex: string;
beforeAll(async () => {
  t = await createTestDatabase();
  ({ tenantId: acme } = await createApiKey(t.db, 'acme'));
  ({ tenantId: globex } = await createApiKey(t.db, 'globex'));
});
afterAll(async () => t?.drop());

const big = defineNodeType({
  type: 'big',
  configSchema: Type.Object({ size: Type.Integer() }),
  async run(config) {
    return { rows: 'x'.repeat(config.size) };
  },
});

describe('STORED_BYTES', () => {
  it('fails the node with a non-retryable QuotaExceeded past the tenant limit, keeps what is stored, and leaves other tenants alone', async () => {
    await setTenantQuotas(t.db, 'acme', { STORED_BYTES: 12_000 });
    const activity = toActivity(big, new PrismaOutputStore(t.db, 1_000, DEFAULT_QUOTAS));
    const env = new MockActivityEnvironment();
    const first: NodeActivityResult = await env.run(activity, { nodeId: 'a', executionId: 'ex-q1', tenantId: acme, config: { size: 5_000 } });
    expect(isOutputRef(first.output)).toBe(true);
    const second: NodeActivityResult = await env.run(activity, { nodeId: 'b', executionId: 'ex-q1', tenantId: acme, config: { size: 5_000 } });
    expect(isOutputRef(second.output)).toBe(true);

    const refused = await env.run(activity, { nodeId: 'c', executionId: 'ex-q1', tenantId: acme, config: { size: 5_000 } }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ApplicationFailure);
    expect(refused).toMatchObject({ type: 'QuotaExceeded', nonRetryable: true });
    expect((refused as Error).message).toContain('STORED_BYTES');
    const rows = await t.db.outputBlob.findMany({ where: { tenantId: acme } });
    expect(rows.map((r) => r.nodeId).sort()).toEqual(['a', 'b']);

    const theirs: NodeActivityResult = await env.run(activity, { nodeId: 'c', executionId: 'ex-q2', tenantId: globex, config: { size: 5_000 } });
    expect(isOutputRef(theirs.output)).toBe(true);
  });

  it('admits exactly what fits when saves race at the edge', async () => {
    await t.db.outputBlob.deleteMany({ where: { tenantId: acme } });
    await setTenantQuotas(t.db, 'acme', { STORED_BYTES: 3_500 });
    const store = new PrismaOutputStore(t.db, 100, DEFAULT_QUOTAS);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.save('ex-race', `n${i}`, { v: i }, 1_000, acme)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const used = await t.db.outputBlob.aggregate({ where: { tenantId: acme }, _sum: { sizeBytes: true } });
    expect(used._sum.sizeBytes).toBe(3_000);
  });
});
