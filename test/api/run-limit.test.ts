import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { executionAdmissionFor } from '../../src/services/executions';
import { useTestApi, type TestApi } from '../support/api';
import { seedExecution, seedWorkflow } from '../support/executions';

const LIMIT = 3;
let api: TestApi;
useTestApi(
  (t) => {
    api = t;
  },
  { maxRunningPerTenant: LIMIT },
);

const start = (workflowId: string, key?: string) =>
  api.request({ method: 'POST', url: '/executions', payload: { workflowId }, ...(key && { headers: { authorization: `Bearer ${key}` } }) });

async function finishAll(tenantId: string): Promise<void> {
  await api.database.db.execution.updateMany({ where: { tenantId, status: 'RUNNING' }, data: { status: 'SUCCEEDED', finishedAt: new Date() } });
}

describe('runs in progress per tenant (TRELLIS_MAX_RUNNING_PER_TENANT), exact', () => {
  it('answers 429 TOO_MANY_RUNS past the limit, counting runs started elsewhere; other tenants are not affected', async () => {
    const workflowId = await seedWorkflow(api.database.db, api.acmeTenantId);
    await seedExecution(api.database.db, { tenantId: api.acmeTenantId, workflowId }); // started by another API process
    expect((await start(workflowId)).statusCode).toBe(202);
    expect((await start(workflowId)).statusCode).toBe(202);
    const refused = await start(workflowId);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error).toMatchObject({ code: 'TOO_MANY_RUNS' });
    expect(refused.json().error.message).toContain(`the limit is ${LIMIT}`);
    expect(await api.database.db.execution.count({ where: { tenantId: api.acmeTenantId, status: 'RUNNING' } })).toBe(LIMIT);

    const theirs = await seedWorkflow(api.database.db, api.globexTenantId);
    expect((await start(theirs, api.otherKey)).statusCode).toBe(202);

    // Runs that finish free their slots at once: near the limit every start counts afresh.
    await finishAll(api.acmeTenantId);
    expect((await start(workflowId)).statusCode).toBe(202);
    await finishAll(api.acmeTenantId);
    await finishAll(api.globexTenantId);
  });

  it('admits exactly the limit out of concurrent starts', async () => {
    const workflowId = await seedWorkflow(api.database.db, api.acmeTenantId);
    const answers = await Promise.all(Array.from({ length: 10 }, () => start(workflowId)));
    expect(answers.map((a) => a.statusCode).sort()).toEqual([...Array(LIMIT).fill(202), ...Array(10 - LIMIT).fill(429)]);
    expect(await api.database.db.execution.count({ where: { tenantId: api.acmeTenantId, status: 'RUNNING' } })).toBe(LIMIT);
    await finishAll(api.acmeTenantId);
  });

  it('does not count a start that failed (404, or 503 with its row FAILED) or an idempotent replay', async () => {
    const workflowId = await seedWorkflow(api.database.db, api.acmeTenantId);
    expect((await start('wf_unknown')).statusCode).toBe(404);
    api.temporal.down = true;
    expect((await start(workflowId)).statusCode).toBe(503);
    api.temporal.down = false;
    const keyed = { method: 'POST' as const, url: '/executions', payload: { workflowId, idempotencyKey: 'limit-1' } };
    expect((await api.request(keyed)).statusCode).toBe(202);
    expect((await api.request(keyed)).statusCode).toBe(202); // the same run: not a second slot
    expect((await start(workflowId)).statusCode).toBe(202);
    expect((await start(workflowId)).statusCode).toBe(202);
    expect((await start(workflowId)).statusCode).toBe(429);
    await finishAll(api.acmeTenantId);
  });
});

describe('a keyed retry of a start Temporal did not take', () => {
  it('takes a slot when it revives the run: at the limit it answers 429 and leaves the run FAILED', async () => {
    const workflowId = await seedWorkflow(api.database.db, api.acmeTenantId);
    const keyed = { method: 'POST' as const, url: '/executions', payload: { workflowId, idempotencyKey: 'revive-at-limit' } };
    api.temporal.down = true;
    const failed = await api.request(keyed);
    expect(failed.statusCode).toBe(503);
    api.temporal.down = false;
    const row = () => api.database.db.execution.findFirstOrThrow({ where: { tenantId: api.acmeTenantId, idempotencyKey: 'revive-at-limit' } });
    expect((await row()).status).toBe('FAILED');

    for (let i = 0; i < LIMIT; i++) expect((await start(workflowId)).statusCode).toBe(202);
    const refused = await api.request(keyed);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error).toMatchObject({ code: 'TOO_MANY_RUNS' });
    expect((await row()).status).toBe('FAILED');

    // One run finishes: the retry revives the run, which then holds the freed slot.
    const one = await api.database.db.execution.findFirstOrThrow({ where: { tenantId: api.acmeTenantId, status: 'RUNNING' } });
    await api.database.db.execution.update({ where: { id: one.id }, data: { status: 'SUCCEEDED', finishedAt: new Date() } });
    const revived = await api.request(keyed);
    expect(revived.statusCode).toBe(202);
    expect(revived.json()).toMatchObject({ id: (await row()).id, status: 'RUNNING' });
    expect((await start(workflowId)).statusCode).toBe(429);
    expect(await api.database.db.execution.count({ where: { tenantId: api.acmeTenantId, status: 'RUNNING' } })).toBe(LIMIT);
    await finishAll(api.acmeTenantId);
  });
});

describe('two API processes sharing one Postgres', () => {
  it('together admit no more than the limit', async () => {
    const second = await buildApp({
      db: api.database.db,
      temporal: api.temporal,
      catalog: createNodeRegistry().catalog(),
      executionAdmission: executionAdmissionFor(api.database.db, { maxRunning: () => LIMIT }),
    });
    try {
      const workflowId = await seedWorkflow(api.database.db, api.acmeTenantId);
      const startOnSecond = () =>
        second.inject({ method: 'POST', url: '/executions', payload: { workflowId }, headers: { authorization: `Bearer ${api.key}` } });
      expect((await start(workflowId)).statusCode).toBe(202);
      expect((await startOnSecond()).statusCode).toBe(202);
      expect((await start(workflowId)).statusCode).toBe(202);
      expect((await startOnSecond()).statusCode).toBe(429);
      expect((await start(workflowId)).statusCode).toBe(429);
      expect(await api.database.db.execution.count({ where: { tenantId: api.acmeTenantId, status: 'RUNNING' } })).toBe(LIMIT);
      await finishAll(api.acmeTenantId);
    } finally {
      await second.close();
    }
  });
});
