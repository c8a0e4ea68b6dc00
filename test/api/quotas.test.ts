import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../support/api';
import { Keyring, generateKeyText, parseKey } from '../../src/crypto/keyring';
import { setTenantQuotas, tenantQuotaReport } from '../../src/services/quotas';
import { DEFAULT_QUOTAS, QuotaSettingInvalid, quotaLimitsFromEnv } from '../../src/domain/quotas';

/** Each quota at a small per-tenant override: 429 QUOTA_EXCEEDED naming it, globex unaffected, nothing stored touched. */
let api: TestApi;
beforeAll(async () => {
  api = await createTestApi({ masterKeys: new Keyring(parseKey(generateKeyText(), 'test key')) });
});
afterAll(async () => {
  await api?.close();
});
beforeEach(async () => {
  // Every test starts from empty tenants with no overrides.
  await api.database.db.tenantQuota.deleteMany({});
  await api.database.db.workflow.deleteMany({});
  await api.database.db.secret.deleteMany({});
});

const definition = { name: 'q', nodes: [{ id: 'a', type: 'noop' }] };
const createWorkflow = (authorization?: string, name = 'wf') =>
  api.request({ method: 'POST', url: '/workflows', payload: { name, definition }, ...(authorization && { headers: { authorization } }) });

function expectQuotaExceeded(res: { statusCode: number; json: () => unknown; body: string }, quota: string, limit: number, used: number) {
  expect(res.statusCode, res.body).toBe(429);
  expect(res.json()).toEqual({
    error: { code: 'QUOTA_EXCEEDED', message: expect.stringContaining(`quota ${quota} exceeded`), details: { quota, limit, used } },
  });
}

describe('WORKFLOWS', () => {
  it('refuses the workflow past the tenant limit, keeps the ones stored, and leaves other tenants alone', async () => {
    await setTenantQuotas(api.database.db, 'acme', { WORKFLOWS: 2 });
    expect((await createWorkflow()).statusCode).toBe(201);
    const second = await createWorkflow();
    expect(second.statusCode).toBe(201);
    // Archived workflows still count: archiving is not a way round the quota.
    await api.request({ method: 'DELETE', url: `/workflows/${second.json<{ id: string }>().id}` });
    expectQuotaExceeded(await createWorkflow(), 'WORKFLOWS', 2, 2);
    expect(await api.database.db.workflow.count({ where: { tenantId: api.acmeTenantId } })).toBe(2);
    expect(await api.database.db.workflowVersion.count({ where: { workflow: { tenantId: api.acmeTenantId } } })).toBe(2);
    expect((await createWorkflow(`Bearer ${api.otherKey}`)).statusCode).toBe(201);
  });

  it('admits exactly the limit when many creates race at the edge', async () => {
    await setTenantQuotas(api.database.db, 'acme', { WORKFLOWS: 3 });
    expect((await createWorkflow()).statusCode).toBe(201);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => createWorkflow(undefined, `race-${i}`)));
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(2);
    expect(results.filter((r) => r.statusCode === 429)).toHaveLength(6);
    expect(await api.database.db.workflow.count({ where: { tenantId: api.acmeTenantId } })).toBe(3);
  });

  it('with the limit at 0 refuses the first, and clearing the override restores the deployment default', async () => {
    await setTenantQuotas(api.database.db, 'acme', { WORKFLOWS: 0 });
    expectQuotaExceeded(await createWorkflow(), 'WORKFLOWS', 0, 0);
    await setTenantQuotas(api.database.db, 'acme', { WORKFLOWS: null });
    expect((await createWorkflow()).statusCode).toBe(201);
  });
});

describe('VERSIONS', () => {
  it('refuses a new version past the limit per workflow; the stored versions and another workflow stay usable', async () => {
    await setTenantQuotas(api.database.db, 'acme', { VERSIONS: 3 });
    const id = (await createWorkflow()).json<{ id: string }>().id;
    const put = () => api.request({ method: 'PUT', url: `/workflows/${id}`, payload: { definition } });
    expect((await put()).statusCode).toBe(200);
    expect((await put()).statusCode).toBe(200);
    expectQuotaExceeded(await put(), 'VERSIONS', 3, 3);
    expect((await api.request({ method: 'GET', url: `/workflows/${id}` })).json<{ version: number }>().version).toBe(3);
    expect(await api.database.db.workflowVersion.count({ where: { workflowId: id } })).toBe(3);
    const other = (await createWorkflow(undefined, 'other')).json<{ id: string }>().id;
    expect((await api.request({ method: 'PUT', url: `/workflows/${other}`, payload: { definition } })).statusCode).toBe(200);
  });

  it('admits exactly the limit when PUTs race', async () => {
    await setTenantQuotas(api.database.db, 'acme', { VERSIONS: 4 });
    const id = (await createWorkflow()).json<{ id: string }>().id;
    const results = await Promise.all(Array.from({ length: 8 }, () => api.request({ method: 'PUT', url: `/workflows/${id}`, payload: { definition } })));
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 429, 429, 429, 429, 429]);
    expect(await api.database.db.workflowVersion.count({ where: { workflowId: id } })).toBe(4);
  });
});

describe('SCHEDULES', () => {
  it('refuses the schedule past the limit and creates no Temporal schedule for it', async () => {
    await setTenantQuotas(api.database.db, 'acme', { SCHEDULES: 1 });
    const id = (await createWorkflow()).json<{ id: string }>().id;
    const create = () => api.request({ method: 'POST', url: `/workflows/${id}/schedules`, payload: { cron: '0 9 * * *' } });
    expect((await create()).statusCode).toBe(201);
    const before = api.temporal.schedules.size;
    expectQuotaExceeded(await create(), 'SCHEDULES', 1, 1);
    expect(api.temporal.schedules.size).toBe(before);
    expect(await api.database.db.schedule.count({ where: { tenantId: api.acmeTenantId } })).toBe(1);
  });

  it('admits exactly the limit when creates race', async () => {
    await setTenantQuotas(api.database.db, 'acme', { SCHEDULES: 2 });
    const id = (await createWorkflow()).json<{ id: string }>().id;
    const before = api.temporal.schedules.size;
    const results = await Promise.all(
      Array.from({ length: 6 }, () => api.request({ method: 'POST', url: `/workflows/${id}/schedules`, payload: { cron: '0 9 * * *' } })),
    );
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(2);
    expect(api.temporal.schedules.size - before).toBe(2);
  });
});

describe('SECRETS', () => {
  it('refuses a new name past the limit, still overwrites an existing one, and leaves other tenants alone', async () => {
    await setTenantQuotas(api.database.db, 'acme', { SECRETS: 1 });
    expect((await api.request({ method: 'PUT', url: '/secrets/ONE', payload: { value: 'v1' } })).statusCode).toBe(200);
    expectQuotaExceeded(await api.request({ method: 'PUT', url: '/secrets/TWO', payload: { value: 'v' } }), 'SECRETS', 1, 1);
    expectQuotaExceeded(await api.request({ method: 'POST', url: '/secrets/TWO', payload: { value: 'v' } }), 'SECRETS', 1, 1);
    const again = await api.request({ method: 'PUT', url: '/secrets/ONE', payload: { value: 'v2' } });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json<{ version: number }>().version).toBe(2);
    // POST of an existing name is still the conflict it was, not a quota refusal.
    expect((await api.request({ method: 'POST', url: '/secrets/ONE', payload: { value: 'v3' } })).statusCode).toBe(409);
    const globex = await api.request({ method: 'PUT', url: '/secrets/TWO', payload: { value: 'v' }, headers: { authorization: `Bearer ${api.otherKey}` } });
    expect(globex.statusCode).toBe(200);
  });

  it('admits exactly the limit when puts of different names race', async () => {
    await setTenantQuotas(api.database.db, 'acme', { SECRETS: 3 });
    const results = await Promise.all(
      Array.from({ length: 7 }, (_, i) => api.request({ method: 'PUT', url: `/secrets/S${i}`, payload: { value: 'v' } })),
    );
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(3);
    expect(await api.database.db.secret.count({ where: { tenantId: api.acmeTenantId } })).toBe(3);
  });
});

describe('tenantQuotaReport', () => {
  it('reports each effective limit with its source and the usage', async () => {
    await setTenantQuotas(api.database.db, 'acme', { WORKFLOWS: 5 });
    await createWorkflow();
    const report = await tenantQuotaReport(api.database.db, 'acme', DEFAULT_QUOTAS);
    expect(report).toContainEqual({ quota: 'WORKFLOWS', limit: 5, source: 'tenant', used: 1 });
    expect(report).toContainEqual({ quota: 'SCHEDULES', limit: 100, source: 'deployment', used: 0 });
    expect(report).toContainEqual({ quota: 'STREAMS', limit: 100, source: 'deployment', used: null });
    expect(await tenantQuotaReport(api.database.db, 'nobody')).toBeUndefined();
  });
});

describe('quotaLimitsFromEnv', () => {
  it('replaces defaults with TRELLIS_QUOTA_<NAME> and names the variable of a bad value', () => {
    expect(quotaLimitsFromEnv({ TRELLIS_QUOTA_WORKFLOWS: '2', TRELLIS_QUOTA_STORED_BYTES: ' 1048576 ', TRELLIS_QUOTA_SECRETS: '' })).toEqual({
      ...DEFAULT_QUOTAS,
      WORKFLOWS: 2,
      STORED_BYTES: 1048576,
    });
    for (const bad of ['-1', '1.5', '1e3', 'ten', '99999999999999999']) {
      expect(() => quotaLimitsFromEnv({ TRELLIS_QUOTA_SCHEDULES: bad })).toThrow(QuotaSettingInvalid);
      expect(() => quotaLimitsFromEnv({ TRELLIS_QUOTA_SCHEDULES: bad })).toThrow(/^TRELLIS_QUOTA_SCHEDULES /);
    }
    expect(() => quotaLimitsFromEnv({ TRELLIS_QUOTA_WORKFLOW: '3' })).toThrow(/TRELLIS_QUOTA_WORKFLOW is not a quota/);
  });
});
