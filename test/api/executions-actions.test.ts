import { describe, expect, it } from 'vitest';
import { useTestApi, type TestApi } from '../support/api';
import { ORDER_FLOW, seedExecution, seedNodeRun, seedWorkflow } from '../support/executions';

let api: TestApi;
let acme: string;
let globex: string;
useTestApi((t) => {
  api = t;
  acme = t.acmeTenantId;
  globex = t.globexTenantId;
});

const post = (url: string, payload?: object, headers: Record<string, string> = {}) =>
  api.request({ method: 'POST', url, ...(payload === undefined ? {} : { payload }), headers });

async function run(status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT' = 'RUNNING', tenant = acme) {
  const workflowId = await seedWorkflow(api.database.db, tenant);
  const id = await seedExecution(api.database.db, { tenantId: tenant, workflowId, status, input: { orderId: 3 } });
  return { id, workflowId };
}

describe('POST /executions/:id/cancel', () => {
  it('signals a running run and answers 202', async () => {
    const { id } = await run();
    const res = await post(`/executions/${id}/cancel`, { reason: 'duplicate order' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ id, status: 'RUNNING', cancelRequested: true });
    expect(api.temporal.cancels).toContainEqual({ executionId: id, reason: 'duplicate order' });

    const bare = await post(`/executions/${id}/cancel`);
    expect(bare.statusCode).toBe(202);
  });

  it('answers 409 for a finished run, 404 for another tenant\'s, 503 when Temporal is down', async () => {
    for (const status of ['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const) {
      const { id } = await run(status);
      const res = await post(`/executions/${id}/cancel`, {});
      expect(res.statusCode, status).toBe(409);
      expect(res.json().error).toMatchObject({ code: 'CONFLICT', details: { status } });
    }
    const theirs = await run('RUNNING', globex);
    expect((await post(`/executions/${theirs.id}/cancel`, {})).statusCode).toBe(404);
    expect(api.temporal.cancels.some((c) => c.executionId === theirs.id)).toBe(false);

    const { id } = await run();
    api.temporal.down = true;
    const down = await post(`/executions/${id}/cancel`, {});
    expect(down.statusCode).toBe(503);
    expect(down.json().error.code).toBe('TEMPORAL_UNAVAILABLE');
  });

  it('rejects unknown fields with their path', async () => {
    const { id } = await run();
    const res = await post(`/executions/${id}/cancel`, { reason: 'x', hard: true });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details).toEqual([expect.objectContaining({ path: '/body/hard' })]);
  });

  it('passes force on, so the run skips its cleanup nodes', async () => {
    const { id } = await run();
    expect((await post(`/executions/${id}/cancel`, { force: true })).statusCode).toBe(202);
    expect(api.temporal.cancels).toContainEqual({ executionId: id, force: true });
    expect((await post(`/executions/${id}/cancel`, { force: 'yes' })).statusCode).toBe(400);
  });
});

describe('POST /executions/:id/nodes/:nodeId/approve', () => {
  it('signals the decision and answers 202', async () => {
    const { id } = await run();
    await seedNodeRun(api.database.db, { executionId: id, nodeId: 'check', type: 'approval', status: 'WAITING' });
    const res = await post(`/executions/${id}/nodes/check/approve`, { approved: true, data: { note: 'ok' } });
    expect(res.statusCode).toBe(202);
    // The decision is recorded as the calling key's, whatever the body claims (issue 9).
    const by = expect.stringMatching(/^apikey:/);
    expect(res.json()).toEqual({ id, nodeId: 'check', approved: true, by });
    expect(api.temporal.approvals).toContainEqual({
      executionId: id,
      decision: { nodeId: 'check', approved: true, data: { note: 'ok' }, by },
    });

    // Before the run reaches the node (no row yet) the decision is sent too: the workflow keeps it.
    const early = await run();
    const rejected = await post(`/executions/${early.id}/nodes/check/approve`, { approved: false, by: 'ann' });
    expect(rejected.statusCode).toBe(202);
    expect(api.temporal.approvals).toContainEqual({ executionId: early.id, decision: { nodeId: 'check', approved: false, by } });
  });

  it('answers 404 for an unknown node, 409 for a non-approval node, a terminal node or a finished run', async () => {
    const { id } = await run();
    const unknown = await post(`/executions/${id}/nodes/nope/approve`, { approved: true });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('NOT_FOUND');

    const notApproval = await post(`/executions/${id}/nodes/fetch/approve`, { approved: true });
    expect(notApproval.statusCode).toBe(409);
    expect(notApproval.json().error.message).toMatch(/not an approval node/);

    await seedNodeRun(api.database.db, { executionId: id, nodeId: 'check', type: 'approval', status: 'FAILED', error: { type: 'ApprovalRejected' } });
    const decided = await post(`/executions/${id}/nodes/check/approve`, { approved: true });
    expect(decided.statusCode).toBe(409);
    expect(decided.json().error.details).toEqual({ status: 'FAILED' });

    const finished = await run('SUCCEEDED');
    expect((await post(`/executions/${finished.id}/nodes/check/approve`, { approved: true })).statusCode).toBe(409);
    expect(api.temporal.approvals.some((a) => a.executionId === id || a.executionId === finished.id)).toBe(false);
  });

  it('answers 404 for another tenant\'s run and 400 for a malformed decision', async () => {
    const theirs = await run('RUNNING', globex);
    expect((await post(`/executions/${theirs.id}/nodes/check/approve`, { approved: true })).statusCode).toBe(404);

    const { id } = await run();
    const missing = await post(`/executions/${id}/nodes/check/approve`, { data: 1 });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.details).toEqual([expect.objectContaining({ path: '/body/approved' })]);
    const wrongType = await post(`/executions/${id}/nodes/check/approve`, { approved: 'perhaps' });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json().error.details).toEqual([expect.objectContaining({ path: '/body/approved' })]);
  });
});

describe('POST /executions/:id/retry', () => {
  it('answers 409 unless the run ended FAILED, CANCELLED or TIMED_OUT', async () => {
    for (const status of ['RUNNING', 'SUCCEEDED'] as const) {
      const { id } = await run(status);
      const res = await post(`/executions/${id}/retry`);
      expect(res.statusCode, status).toBe(409);
      expect(res.json().error.code).toBe('CONFLICT');
    }
    for (const status of ['CANCELLED', 'TIMED_OUT'] as const) {
      const { id } = await run(status);
      expect((await post(`/executions/${id}/retry`)).statusCode, status).toBe(202);
    }
  });

  it('starts a new run of the pinned version with the same input, reusing outputs of nodes that succeeded', async () => {
    const db = api.database.db;
    const workflowId = await seedWorkflow(db, acme, { versions: [ORDER_FLOW, { ...ORDER_FLOW, name: 'v2' }] });
    const failed = await seedExecution(db, { tenantId: acme, workflowId, version: 1, status: 'FAILED', input: { orderId: 9 } });
    await seedNodeRun(db, { executionId: failed, nodeId: 'fetch', type: 'http', status: 'SUCCEEDED', output: { status: 200, body: [1] } });
    await seedNodeRun(db, { executionId: failed, nodeId: 'check', type: 'approval', status: 'SUCCEEDED', output: { approved: true, by: 'ann' } });
    await seedNodeRun(db, { executionId: failed, nodeId: 'shape', type: 'transform', status: 'FAILED', error: { type: 'ExpressionError', message: 'boom' } });
    await seedNodeRun(db, { executionId: failed, nodeId: 'done', type: 'noop', status: 'SKIPPED' });
    const metric = async () => (await api.app.metrics.runsStarted.get()).values.find((v) => v.labels.trigger === 'RETRY')?.value ?? 0;
    const before = await metric();

    const res = await post(`/executions/${failed}/retry`);
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toMatchObject({ status: 'RUNNING', workflowId, version: 1, trigger: 'RETRY', retryOf: failed });
    expect(body.id).not.toBe(failed);
    expect(body.reused.sort()).toEqual(['check', 'fetch']);
    expect(api.temporal.started.get(body.id)).toEqual({
      tenantId: api.acmeTenantId,
      workflowId,
      version: 1,
      input: { orderId: 9 },
      reuse: { fetch: { status: 200, body: [1] }, check: { approved: true, by: 'ann' } },
      definition: ORDER_FLOW,
      // A retry is signed like every start (src/crypto/claim-signing.ts).
      claim: { v: 1, sig: expect.any(String) },
    });
    expect(await db.execution.findUniqueOrThrow({ where: { id: body.id } })).toMatchObject({
      tenantId: acme,
      trigger: 'RETRY',
      retryOf: failed,
      version: 1,
      input: { orderId: 9 },
    });
    expect(await metric()).toBe(before + 1);
  });

  it('answers the same retry for the same Idempotency-Key', async () => {
    const { id } = await run('FAILED');
    const first = await post(`/executions/${id}/retry`, undefined, { 'idempotency-key': 'retry-once' });
    const again = await post(`/executions/${id}/retry`, undefined, { 'idempotency-key': 'retry-once' });
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(again.json().id).toBe(first.json().id);
    expect(await api.database.db.execution.count({ where: { retryOf: id } })).toBe(1);
  });

  it('answers 409 when the workflow was archived, 404 for another tenant\'s run, 503 when Temporal is down', async () => {
    const workflowId = await seedWorkflow(api.database.db, acme, { archived: true });
    const failed = await seedExecution(api.database.db, { tenantId: acme, workflowId, status: 'FAILED' });
    expect((await post(`/executions/${failed}/retry`)).statusCode).toBe(409);

    const theirs = await run('FAILED', globex);
    expect((await post(`/executions/${theirs.id}/retry`)).statusCode).toBe(404);
    expect((await post(`/executions/${theirs.id}/retry`, undefined, { authorization: `Bearer ${api.otherKey}` })).statusCode).toBe(202);

    const { id } = await run('FAILED');
    api.temporal.down = true;
    const down = await post(`/executions/${id}/retry`);
    expect(down.statusCode).toBe(503);
    expect(await api.database.db.execution.findFirstOrThrow({ where: { retryOf: id } })).toMatchObject({ status: 'FAILED' });
  });
});

describe('tenant isolation', () => {
  it('hides another tenant\'s run from every route', async () => {
    const theirs = await run('FAILED', globex);
    const routes = [
      { method: 'GET' as const, url: `/executions/${theirs.id}` },
      { method: 'GET' as const, url: `/executions/${theirs.id}?live=1` },
      { method: 'POST' as const, url: `/executions/${theirs.id}/cancel`, payload: {} },
      { method: 'POST' as const, url: `/executions/${theirs.id}/nodes/check/approve`, payload: { approved: true } },
      { method: 'POST' as const, url: `/executions/${theirs.id}/retry` },
    ];
    for (const route of routes) {
      const res = await api.request(route);
      expect(res.statusCode, route.url).toBe(404);
      expect(res.json().error.message).toBe(`execution ${theirs.id} not found`);
    }
    const list = await api.request({ method: 'GET', url: '/executions', query: { workflowId: theirs.workflowId } });
    expect(list.json()).toEqual({ items: [], nextCursor: null });
  });
});
