import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaOutputStore } from '../../src/activities/output-store';
import { createIterationStoreActivities } from '../../src/activities/iteration-store';
import type { ExpressionContext } from '../../src/domain/expressions';
import { createApiKey } from '../../src/services/api-keys';
import type { StoredReadRequest } from '../../src/contracts/iteration-store';
import { createTestDatabase, type TestDatabase } from '../support/database';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => t?.drop());

/** A 10,000-item map's results stored as the map coordinator stores them, for tenant `tenantId`. */
async function storedMap(tenantId: string) {
  const activities = createIterationStoreActivities(new PrismaOutputStore(t.db));
  const results = Array.from({ length: 10_000 }, (_, i) => ({ id: `order-${i}`, total: i }));
  const stored = await activities.assembleMapResults({
    executionId: 'run-1',
    nodeId: 'each',
    chunks: [{ start: 0, end: results.length, results }],
    inlineBytes: 1_000,
    tenantId,
  });
  expect(stored).toMatchObject({ $trellisRef: expect.any(String) });
  const context: ExpressionContext = {
    input: {},
    nodes: { each: { status: 'SUCCEEDED', output: { results: stored, counts: { total: 10_000, succeeded: 10_000, failed: 0 }, failures: [] } } },
    execution: { id: 'run-1', workflowId: 'wf', version: 1, startedAt: '2026-11-26T00:00:00.000Z' },
  };
  const read = (expression: string, extra: Partial<StoredReadRequest> = {}) =>
    activities.evaluateOverStoredOutputs({ expression, context, load: ['each'], maxBytes: 256 * 1024, tenantId, ...extra });
  return { read };
}

describe('expressions over a map result stored by reference (evaluateOverStoredOutputs)', () => {
  it('pages, indexes and counts the stored results for the run tenant', async () => {
    const { tenantId } = await createApiKey(t.db, 'acme');
    const { read } = await storedMap(tenantId);
    expect(await read('$page(nodes.each.output.results, 9998, 10).id')).toEqual({ value: ['order-9998', 'order-9999'] });
    expect(await read('nodes.each.output.results[42].total')).toEqual({ value: 42 });
    expect(await read('$count(nodes.each.output.results)')).toEqual({ value: 10_000 });
    expect(await read('$sum($page(nodes.each.output.results, 0, 100).total)')).toEqual({ value: 4950 });
  });

  it('refuses a result over the inline budget, with a hint to read a part', async () => {
    const { tenantId } = await createApiKey(t.db, 'acme2');
    const { read } = await storedMap(tenantId);
    const answer = await read('nodes.each.output.results');
    expect(answer).toMatchObject({ error: { type: 'OutputLimitExceeded', message: expect.stringMatching(/\$page/) } });
  });

  it("another tenant's run finds nothing (the reference is only a claim)", async () => {
    const { tenantId } = await createApiKey(t.db, 'owner');
    const { tenantId: other } = await createApiKey(t.db, 'intruder');
    const { read } = await storedMap(tenantId);
    expect(await read('$count(nodes.each.output.results)', { tenantId: other })).toMatchObject({ error: { type: 'StoredOutputNotFound' } });
  });

  it('reports expression errors and limit breaches as typed errors, not worker failures', async () => {
    const { tenantId } = await createApiKey(t.db, 'acme3');
    const { read } = await storedMap(tenantId);
    expect(await read('$page(nodes.each.output.results, -1, 2)')).toMatchObject({ error: { type: 'ExpressionError' } });
    expect(await read('$count(nodes.each.output.results.($string(total) & id & id & id))')).toMatchObject({ error: { type: 'ExpressionLimitExceeded' } });
  });
});

describe('map chunks saved before they carried a tenant (runs in flight across that upgrade)', () => {
  it("a tenant's map still loads its own tenant-less chunks; another tenant's chunks stay hidden", async () => {
    const store = new PrismaOutputStore(t.db);
    const activities = createIterationStoreActivities(store);
    const { tenantId } = await createApiKey(t.db, 'chunks');
    const { tenantId: other } = await createApiKey(t.db, 'other-chunks');
    const legacy = await store.save('run-legacy', 'each', ['a', 'b'], 9); // as saved before: no tenant
    const foreign = await store.save('run-foreign', 'each', ['x'], 5, other);
    const scope = { tenantId } as Parameters<typeof activities.loadMapItems>[1];
    expect(await activities.loadMapItems({ start: 0, end: 2, ref: legacy }, scope)).toEqual(['a', 'b']);
    await expect(activities.loadMapItems({ start: 0, end: 1, ref: foreign }, scope)).rejects.toThrow(/not found/);
  });
});
