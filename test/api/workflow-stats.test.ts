import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../support/api';

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi();
});
afterAll(async () => {
  await api?.close();
});

async function create(name: string): Promise<{ id: string }> {
  const res = await api.request({ method: 'POST', url: '/workflows', payload: { name, definition: { name, nodes: [{ id: 'a', type: 'noop' }] } } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

describe('GET /workflows/:id/stats', () => {
  it('aggregates runs started in the window', async () => {
    const { id } = await create('stats');
    const { id: otherId } = await create('stats-other');
    const tenant = await api.database.db.tenant.findUniqueOrThrow({ where: { name: 'acme' } });
    const now = Date.now();
    const run = (n: number, workflowId: string, status: 'RUNNING' | 'SUCCEEDED' | 'FAILED', startedAgoMs: number, durationMs?: number) => ({
      id: `ex_stats_${workflowId}_${n}`,
      tenantId: tenant.id,
      workflowId,
      version: 1,
      status,
      startedAt: new Date(now - startedAgoMs),
      finishedAt: durationMs === undefined ? null : new Date(now - startedAgoMs + durationMs),
    });
    await api.database.db.execution.createMany({
      data: [
        run(1, id, 'SUCCEEDED', 60_000, 1_000),
        run(2, id, 'SUCCEEDED', 60_000, 2_000),
        run(3, id, 'SUCCEEDED', 60_000, 3_000),
        run(4, id, 'SUCCEEDED', 60_000, 4_000),
        run(5, id, 'FAILED', 60_000, 5_000),
        run(6, id, 'RUNNING', 1_000),
        run(7, id, 'FAILED', 3 * 86_400_000, 10_000), // outside 24h, inside 7d
        run(1, otherId, 'SUCCEEDED', 60_000, 60_000),
      ],
    });

    const day = await api.request({ method: 'GET', url: `/workflows/${id}/stats` });
    expect(day.statusCode).toBe(200);
    expect(day.json()).toEqual({
      window: '24h',
      total: 6,
      byStatus: { QUEUED: 0, RUNNING: 1, SUCCEEDED: 4, FAILED: 1, CANCELLED: 0, TIMED_OUT: 0 },
      successRate: 0.8,
      avgDurationMs: 3_000,
      p95DurationMs: 4_800, // percentile_cont over 1s..5s
    });

    const week = await api.request({ method: 'GET', url: `/workflows/${id}/stats?window=7d` });
    expect(week.json()).toMatchObject({ window: '7d', total: 7, byStatus: { FAILED: 2 }, successRate: 4 / 6, avgDurationMs: 4_167 });
  });

  it('reports nulls when no run finished, and refuses bad windows', async () => {
    const { id } = await create('stats-empty');
    const res = await api.request({ method: 'GET', url: `/workflows/${id}/stats?window=1h` });
    expect(res.json()).toEqual({
      window: '1h',
      total: 0,
      byStatus: { QUEUED: 0, RUNNING: 0, SUCCEEDED: 0, FAILED: 0, CANCELLED: 0, TIMED_OUT: 0 },
      successRate: null,
      avgDurationMs: null,
      p95DurationMs: null,
    });
    for (const window of ['forever', '91d', '0s', '-1h']) {
      const bad = await api.request({ method: 'GET', url: `/workflows/${id}/stats?window=${window}` });
      expect(bad.statusCode, window).toBe(400);
      expect(bad.json().error.details[0].path).toBe('/querystring/window');
    }
    expect((await api.request({ method: 'GET', url: '/workflows/wf_nope/stats' })).statusCode).toBe(404);
  });
});
