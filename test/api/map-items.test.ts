import { describe, expect, it } from 'vitest';
import { createMapItemsActivities } from '../../src/activities/map-items-mirror';
import { useTestApi, type TestApi } from '../support/api';
import { seedExecution, seedNodeRun, seedWorkflow } from '../support/executions';

let api: TestApi;
useTestApi((t) => {
  api = t;
});

describe('GET /executions/:id/nodes/:nodeId/items', () => {
  it('pages through item rows written in batches by the mirror activity, filtered by status, with counts', async () => {
    const db = api.database.db;
    const workflowId = await seedWorkflow(db, api.acmeTenantId);
    const executionId = await seedExecution(db, { tenantId: api.acmeTenantId, workflowId, status: 'RUNNING' });
    await seedNodeRun(db, { executionId, nodeId: 'each', type: 'map', status: 'RUNNING' });
    const { recordMapItems } = createMapItemsActivities(db);
    const at = new Date('2031-01-01T00:00:00Z').toISOString();
    const rows = Array.from({ length: 25 }, (_, index) => ({
      index,
      status: index % 5 === 0 ? ('FAILED' as const) : ('SUCCEEDED' as const),
      attempt: 1,
      output: index % 5 === 0 ? undefined : { n: index, text: 'nul\u0000char' },
      error: index % 5 === 0 ? { type: 'Boom', message: `item ${index}` } : undefined,
      startedAt: at,
      finishedAt: at,
    }));
    // Out of order and repeated (an activity retry): rows are keyed by index and idempotent.
    await recordMapItems({ executionId, nodeId: 'each', items: rows.slice(10) });
    await recordMapItems({ executionId, nodeId: 'each', items: rows.slice(0, 12) });
    // A run that is not mirrored writes nothing and does not fail.
    await recordMapItems({ executionId: 'not-mirrored', nodeId: 'each', items: rows.slice(0, 2) });
    expect(await db.mapItem.count({ where: { executionId: 'not-mirrored' } })).toBe(0);

    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await api.request({
        method: 'GET',
        url: `/executions/${executionId}/nodes/each/items`,
        query: { limit: '10', ...(cursor ? { cursor } : {}) },
      });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { items: { index: number; output: unknown }[]; nextCursor: string | null; counts: Record<string, number> };
      expect(body.counts).toEqual({ recorded: 25, succeeded: 20, failed: 5, cancelled: 0 });
      seen.push(...body.items.map((i) => i.index));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(rows.map((r) => r.index));

    const failed = await api.request({ method: 'GET', url: `/executions/${executionId}/nodes/each/items`, query: { status: 'FAILED' } });
    const failedItems = failed.json().items as { index: number; error: { type: string } }[];
    expect(failedItems.map((i) => i.index)).toEqual([0, 5, 10, 15, 20]);
    expect(failedItems[0]!.error.type).toBe('Boom');
    const one = await api.request({ method: 'GET', url: `/executions/${executionId}/nodes/each/items`, query: { limit: '1', cursor: '0' } });
    expect(one.json().items[0]).toMatchObject({ index: 1, status: 'SUCCEEDED', attempt: 1, output: { n: 1, text: 'nul\uFFFDchar' } });
  });

  it('returns the workflow (and run) that ran each item, null for rows recorded without them', async () => {
    const db = api.database.db;
    const workflowId = await seedWorkflow(db, api.acmeTenantId);
    const executionId = await seedExecution(db, { tenantId: api.acmeTenantId, workflowId, status: 'RUNNING' });
    await seedNodeRun(db, { executionId, nodeId: 'each', type: 'map', status: 'RUNNING' });
    const { recordMapItems } = createMapItemsActivities(db);
    const row = (index: number) => ({ index, status: 'SUCCEEDED' as const, attempt: 1, output: index });
    // A worker that predates the ids writes rows without them.
    await recordMapItems({ executionId, nodeId: 'each', items: [row(0)] });
    await recordMapItems({ executionId, nodeId: 'each', items: [row(1), row(2)], workflowId: `${executionId}.0-1`, runId: 'run-a' });
    await recordMapItems({ executionId, nodeId: 'each', items: [row(3)], workflowId: `${executionId}.2-3`, runId: 'run-b' });
    // An item rewritten (a retried batch child) takes the ids of the workflow that wrote it last.
    await recordMapItems({ executionId, nodeId: 'each', items: [row(2)], workflowId: `${executionId}.2-3`, runId: 'run-b' });

    const res = await api.request({ method: 'GET', url: `/executions/${executionId}/nodes/each/items` });
    expect(res.statusCode).toBe(200);
    const items = (res.json() as { items: { index: number; workflowId: string | null; runId: string | null }[] }).items;
    expect(items.map(({ index, workflowId, runId }) => ({ index, workflowId, runId }))).toEqual([
      { index: 0, workflowId: null, runId: null },
      { index: 1, workflowId: `${executionId}.0-1`, runId: 'run-a' },
      { index: 2, workflowId: `${executionId}.2-3`, runId: 'run-b' },
      { index: 3, workflowId: `${executionId}.2-3`, runId: 'run-b' },
    ]);
  });

  it('answers 404 for unknown runs, non-map nodes and other tenants, 400 for a bad cursor', async () => {
    const db = api.database.db;
    const workflowId = await seedWorkflow(db, api.acmeTenantId);
    const executionId = await seedExecution(db, { tenantId: api.acmeTenantId, workflowId });
    await seedNodeRun(db, { executionId, nodeId: 'plain', type: 'http', status: 'SUCCEEDED' });
    await seedNodeRun(db, { executionId, nodeId: 'each', type: 'map', status: 'SUCCEEDED' });
    const get = (url: string, extra: Record<string, unknown> = {}) => api.request({ method: 'GET', url, ...extra });
    expect((await get(`/executions/nope/nodes/each/items`)).statusCode).toBe(404);
    expect((await get(`/executions/${executionId}/nodes/plain/items`)).statusCode).toBe(404);
    expect((await get(`/executions/${executionId}/nodes/ghost/items`)).statusCode).toBe(404);
    expect((await get(`/executions/${executionId}/nodes/each/items`)).json()).toMatchObject({ items: [], nextCursor: null });
    const other = await get(`/executions/${executionId}/nodes/each/items`, { headers: { authorization: `Bearer ${api.otherKey}` } });
    expect(other.statusCode).toBe(404);
    expect((await get(`/executions/${executionId}/nodes/each/items?cursor=abc`)).statusCode).toBe(400);
    expect((await get(`/executions/${executionId}/nodes/each/items?status=RUNNING`)).statusCode).toBe(400);
  });
});
