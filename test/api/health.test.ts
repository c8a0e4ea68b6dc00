import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { createDb } from '../../src/db/client';
import { createTestApi, type TestApi } from '../support/api';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi();
});
afterAll(async () => {
  await api?.close();
});

describe('health', () => {
  it('GET /healthz answers without a key', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz checks Postgres and Temporal', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', temporal: 'ok' } });
  });

  it('GET /readyz is 503 naming Temporal when it is down', async () => {
    api.temporal.down = true;
    try {
      const res = await api.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({
        error: {
          code: 'NOT_READY',
          message: expect.stringContaining('temporal'),
          details: [{ check: 'temporal', message: 'temporal unavailable' }],
        },
      });
    } finally {
      api.temporal.down = false;
    }
  });

  it('GET /readyz is 503 naming Postgres when it is unreachable; /metrics still answers', async () => {
    // Port 1 on loopback refuses connections at once.
    const db = createDb('postgresql://nobody:nothing@127.0.0.1:1/none', { max: 1 });
    const app = await buildApp({ db, temporal: new FakeTemporalGateway(), catalog: createNodeRegistry().catalog() });
    try {
      const res = await app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.details).toEqual([{ check: 'postgres', message: expect.any(String) }]);
      const metrics = await app.inject({ method: 'GET', url: '/metrics' });
      expect(metrics.statusCode).toBe(200);
      expect(metrics.body).toContain('trellis_http_request_duration_seconds');
    } finally {
      await app.close();
      await db.$disconnect();
    }
  });
});

describe('GET /metrics', () => {
  it('exposes HTTP, run and mirror metrics in the Prometheus text format', async () => {
    const definition = { name: 'm', nodes: [{ id: 'a', type: 'http', config: { method: 'GET', url: 'https://example.com' } }] };
    const created = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'm', definition } });
    const workflowId = created.json().id;
    await api.request({ method: 'GET', url: `/workflows/${workflowId}` });
    const tenant = await api.database.db.tenant.findUniqueOrThrow({ where: { name: 'acme' } });
    const now = Date.now();
    await api.database.db.execution.create({
      data: {
        id: 'ex_metrics',
        tenantId: tenant.id,
        workflowId,
        version: 1,
        status: 'SUCCEEDED',
        nodeRuns: {
          create: [
            { nodeId: 'a', type: 'http', status: 'SUCCEEDED', startedAt: new Date(now - 3_000), finishedAt: new Date(now - 1_000) },
            { nodeId: 'b', type: 'http', status: 'FAILED', startedAt: new Date(now - 5_000), finishedAt: new Date(now - 1_000) },
            { nodeId: 'c', type: 'noop', status: 'PENDING' },
          ],
        },
      },
    });
    api.app.metrics.runsStarted.inc({ trigger: 'MANUAL' });

    const res = await api.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.body;
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toMatch(/trellis_http_request_duration_seconds_count\{method="GET",route="\/workflows\/:id",status="200"\} 1/);
    expect(text).toMatch(/trellis_http_request_duration_seconds_count\{method="POST",route="\/workflows",status="201"\} 1/);
    expect(text).toContain('trellis_runs_started_total{trigger="MANUAL"} 1');
    expect(text).toContain('trellis_executions{status="SUCCEEDED"} 1');
    expect(text).toContain('trellis_executions{status="RUNNING"} 0');
    expect(text).toContain('trellis_executions{status="QUEUED"} 0'); // QUEUED runs (run-level concurrency) are a status of their own
    expect(text).toContain('trellis_node_runs{status="FAILED"} 1');
    expect(text).toContain('trellis_node_runs{status="PENDING"} 1');
    // percentile_cont over 2s and 4s
    expect(text).toContain('trellis_node_run_duration_seconds{type="http",quantile="0.5"} 3');
    expect(text).toContain('trellis_node_run_duration_seconds{type="http",quantile="0.95"} 3.9');
    expect(text).not.toContain('type="noop"');
  });

  it('keeps one series per route pattern, and unmatched URLs in one series', async () => {
    await api.app.inject({ method: 'GET', url: '/no/such/route/1' });
    await api.app.inject({ method: 'GET', url: '/no/such/route/2' });
    const text = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/trellis_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 2/);
    expect(text).not.toContain('/no/such/route');
  });
});

describe('GET /docs', () => {
  it('serves the OpenAPI document with every route', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/healthz',
        '/readyz',
        '/metrics',
        '/workflows',
        '/workflows/validate',
        '/workflows/{id}',
        '/workflows/{id}/versions/{version}',
        '/workflows/{id}/stats',
        '/workflows/{id}/hook-token',
        '/hooks/{workflowId}/{token}',
        '/executions',
        '/executions/{id}',
      ]),
    );
    expect(doc.paths['/workflows'].post.tags).toEqual(['workflows']);
    expect(doc.paths['/workflows'].post.summary).toEqual(expect.any(String));
    expect(doc.paths['/workflows'].post.responses['400']).toBeDefined();
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    const page = await api.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBeLessThan(400);
  });
});
