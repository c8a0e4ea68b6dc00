import { describe, expect, it } from 'vitest';
import { useTestApi, type TestApi } from '../support/api';
import { seedExecution, seedNodeRun, seedWorkflow } from '../support/executions';

let api: TestApi;
let acme: string;
let globex: string;
useTestApi((t) => {
  api = t;
  acme = t.acmeTenantId;
  globex = t.globexTenantId;
});

describe('GET /executions', () => {
  it('lists newest first in pages without duplicates, filtered, and only the caller\'s tenant', async () => {
    const db = api.database.db;
    const listed = await seedWorkflow(db, acme);
    const other = await seedWorkflow(db, acme);
    const theirs = await seedWorkflow(db, globex);
    const base = Date.parse('2031-01-01T00:00:00.000Z');
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      // Two rows share each timestamp so paging must break ties by id.
      const createdAt = new Date(base + Math.floor(i / 2) * 1000);
      ids.push(await seedExecution(db, { tenantId: acme, workflowId: listed, createdAt, status: i % 3 === 0 ? 'FAILED' : 'SUCCEEDED' }));
    }
    await seedExecution(db, { tenantId: acme, workflowId: other });
    await seedExecution(db, { tenantId: globex, workflowId: theirs });

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await api.request({
        method: 'GET',
        url: '/executions',
        query: { workflowId: listed, limit: '3', ...(cursor ? { cursor } : {}) },
      });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { items: { id: string; workflowId: string }[]; nextCursor: string | null };
      seen.push(...body.items.map((item) => item.id));
      cursor = body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(7);
    expect(seen.slice().sort()).toEqual(ids.slice().sort());
    // Newest first: createdAt never increases along the pages.
    const rows = await db.execution.findMany({ where: { id: { in: seen } } });
    const created = seen.map((id) => rows.find((r) => r.id === id)!.createdAt.getTime());
    expect(created).toEqual(created.slice().sort((a, b) => b - a));

    const failed = await api.request({ method: 'GET', url: '/executions', query: { workflowId: listed, status: 'FAILED' } });
    expect(failed.json().items.map((i: { id: string }) => i.id).sort()).toEqual([ids[0], ids[3], ids[6]].sort());

    const all = await api.request({ method: 'GET', url: '/executions', query: { limit: '100' } });
    expect(all.json().items.every((i: { workflowId: string }) => i.workflowId !== theirs)).toBe(true);
    const globexList = await api.request({ method: 'GET', url: '/executions', headers: { authorization: `Bearer ${api.otherKey}` } });
    const globexWorkflows = globexList.json().items.map((i: { workflowId: string }) => i.workflowId);
    expect(globexWorkflows).toContain(theirs);
    expect(globexWorkflows).not.toContain(listed);
    expect(globexWorkflows).not.toContain(other);
  });

  it('rejects an unknown status, a bad limit and a forged cursor with 400', async () => {
    const queries: Record<string, string>[] = [{ status: 'DONE' }, { limit: '0' }, { limit: '1000' }, { cursor: 'not-a-cursor' }];
    for (const query of queries) {
      const res = await api.request({ method: 'GET', url: '/executions', query });
      expect(res.statusCode, JSON.stringify(query)).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_ERROR');
    }
    const bad = await api.request({ method: 'GET', url: '/executions', query: { status: 'DONE' } });
    expect(bad.json().error.details).toEqual([expect.objectContaining({ path: '/querystring/status' })]);
  });
});

describe('GET /executions/:id', () => {
  it('lists every node in definition order, PENDING where the run has not been, with progress', async () => {
    const db = api.database.db;
    const workflowId = await seedWorkflow(db, acme);
    const id = await seedExecution(db, { tenantId: acme, workflowId, input: { orderId: 1 } });
    await seedNodeRun(db, { executionId: id, nodeId: 'fetch', type: 'http', status: 'SUCCEEDED', attempt: 2, output: { status: 200 } });
    await seedNodeRun(db, { executionId: id, nodeId: 'check', type: 'approval', status: 'WAITING' });

    const res = await api.request({ method: 'GET', url: `/executions/${id}` });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ id, workflowId, version: 1, status: 'RUNNING', input: { orderId: 1 }, output: null, error: null });
    expect(body.progress).toEqual({ total: 4, done: 1 });
    expect(body.live).toBeUndefined();
    expect(body.nodes).toEqual([
      {
        nodeId: 'fetch', type: 'http', status: 'SUCCEEDED', attempt: 2, output: { status: 200 }, error: null,
        startedAt: '2030-01-01T00:00:00.000Z', finishedAt: '2030-01-01T00:00:01.000Z',
        // Attempt 2 ran, so it was not reused; no failed attempt was recorded for it.
        reused: false, failedAttempts: [],
      },
      expect.objectContaining({ nodeId: 'check', type: 'approval', status: 'WAITING', attempt: 1, finishedAt: null }),
      { nodeId: 'shape', type: 'transform', status: 'PENDING', attempt: 0, startedAt: null, finishedAt: null, output: null, error: null, reused: false, failedAttempts: [] },
      { nodeId: 'done', type: 'noop', status: 'PENDING', attempt: 0, startedAt: null, finishedAt: null, output: null, error: null, reused: false, failedAttempts: [] },
    ]);
  });

  it('merges the live query over stale rows with ?live=1, and says live: false when it fails', async () => {
    const db = api.database.db;
    const workflowId = await seedWorkflow(db, acme);
    const id = await seedExecution(db, { tenantId: acme, workflowId });
    await seedNodeRun(db, { executionId: id, nodeId: 'fetch', type: 'http', status: 'SUCCEEDED', output: { from: 'mirror' } });
    await seedNodeRun(db, { executionId: id, nodeId: 'check', type: 'approval', status: 'WAITING' });
    api.temporal.states.set(id, {
      status: 'RUNNING',
      workflowId,
      version: 1,
      progress: { total: 4, done: 3 },
      nodes: {
        // A terminal row is final: the query cannot overwrite it.
        fetch: { type: 'http', status: 'SUCCEEDED', attempt: 1, output: { from: 'query' } },
        check: { type: 'approval', status: 'SUCCEEDED', attempt: 1, output: { approved: true, by: 'ann' }, finishedAt: '2030-01-01T00:00:05.000Z' },
        shape: { type: 'transform', status: 'SUCCEEDED', attempt: 1, output: 42 },
        done: { type: 'noop', status: 'RUNNING', attempt: 1 },
      },
    });

    const live = (await api.request({ method: 'GET', url: `/executions/${id}?live=1` })).json();
    expect(live.live).toBe(true);
    expect(live.progress).toEqual({ total: 4, done: 3 });
    const byId = Object.fromEntries(live.nodes.map((n: { nodeId: string }) => [n.nodeId, n]));
    expect(byId.fetch.output).toEqual({ from: 'mirror' });
    expect(byId.check).toMatchObject({ status: 'SUCCEEDED', output: { approved: true, by: 'ann' }, finishedAt: '2030-01-01T00:00:05.000Z' });
    expect(byId.shape).toMatchObject({ status: 'SUCCEEDED', attempt: 1, output: 42 });
    expect(byId.done).toMatchObject({ status: 'RUNNING', attempt: 1 });

    const mirrorOnly = (await api.request({ method: 'GET', url: `/executions/${id}` })).json();
    expect(mirrorOnly.progress).toEqual({ total: 4, done: 1 });

    api.temporal.down = true;
    const down = await api.request({ method: 'GET', url: `/executions/${id}?live=true` });
    expect(down.statusCode).toBe(200);
    expect(down.json()).toMatchObject({ live: false, progress: { total: 4, done: 1 } });

    api.temporal.down = false;
    api.temporal.states.delete(id);
    expect((await api.request({ method: 'GET', url: `/executions/${id}?live=1` })).json().live).toBe(false);
  });

  it('takes a finished status from the live query while the mirror still says RUNNING', async () => {
    const workflowId = await seedWorkflow(api.database.db, acme);
    const id = await seedExecution(api.database.db, { tenantId: acme, workflowId });
    api.temporal.states.set(id, { status: 'FAILED', progress: { total: 4, done: 4 }, nodes: {}, error: { type: 'HttpClientError', message: '404' } });
    const body = (await api.request({ method: 'GET', url: `/executions/${id}?live=1` })).json();
    expect(body).toMatchObject({ status: 'FAILED', error: { type: 'HttpClientError' }, live: true });
  });

  it('answers 404 for an unknown id and for another tenant\'s run', async () => {
    const theirs = await seedWorkflow(api.database.db, globex);
    const id = await seedExecution(api.database.db, { tenantId: globex, workflowId: theirs });
    expect((await api.request({ method: 'GET', url: '/executions/ex_unknown' })).statusCode).toBe(404);
    const cross = await api.request({ method: 'GET', url: `/executions/${id}` });
    expect(cross.statusCode).toBe(404);
    expect(cross.json().error.code).toBe('NOT_FOUND');
    const own = await api.request({ method: 'GET', url: `/executions/${id}`, headers: { authorization: `Bearer ${api.otherKey}` } });
    expect(own.statusCode).toBe(200);
    expect((await api.request({ method: 'GET', url: `/executions/${id}?live=maybe` })).statusCode).toBe(400);
  });
});
