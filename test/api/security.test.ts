import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InjectOptions } from 'fastify';
import { createApiKey } from '../../src/services/api-keys';
import { createTestApi, type TestApi } from '../support/api';

const definition = (name = 'sec', nodes: unknown[] = [{ id: 'a', type: 'noop' }]) => ({ name, nodes });
const SQLISH = "' OR 1=1 --";

/** Routes DESIGN.md §3 puts behind the API key; the OpenAPI document must list each of them. */
const PROTECTED = [
  'POST /workflows',
  'GET /workflows',
  'POST /workflows/validate',
  'GET /workflows/{id}',
  'PUT /workflows/{id}',
  'DELETE /workflows/{id}',
  'GET /workflows/{id}/versions/{version}',
  'GET /workflows/{id}/stats',
  'POST /workflows/{id}/hook-token',
  'DELETE /workflows/{id}/hook-token',
  'POST /executions',
  'GET /executions',
  'GET /executions/{id}',
  'POST /executions/{id}/cancel',
  'POST /executions/{id}/nodes/{nodeId}/approve',
  'POST /executions/{id}/retry',
  'GET /executions/{id}/events',
  'POST /workflows/{id}/schedules',
  'GET /workflows/{id}/schedules',
  'GET /schedules/{id}',
  'PATCH /schedules/{id}',
  'DELETE /schedules/{id}',
  'POST /schedules/{id}/trigger',
];
const PUBLIC = ['GET /healthz', 'GET /readyz', 'GET /metrics', 'POST /hooks/{workflowId}/{token}'];

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi();
});
afterAll(async () => {
  await api?.close();
});

/** Every operation in the OpenAPI document, split by whether it declares `security: []`. */
function operations(): { route: string; isPublic: boolean }[] {
  const doc = api.app.swagger() as { paths: Record<string, Record<string, { security?: unknown[] }>> };
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      route: `${method.toUpperCase()} ${path}`,
      isPublic: Array.isArray(op.security) && op.security.length === 0,
    })),
  );
}

function toRequest(route: string): InjectOptions {
  const [method, path] = route.split(' ') as [InjectOptions['method'], string];
  const url = path.replace(/\{version\}/g, '1').replace(/\{[^}]+\}/g, 'x1');
  return { method, url, ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }) };
}

describe('authentication', () => {
  it('documents exactly the expected public routes and every protected one', () => {
    const ops = operations();
    expect(ops.filter((o) => o.isPublic).map((o) => o.route).sort()).toEqual([...PUBLIC].sort());
    expect(ops.map((o) => o.route)).toEqual(expect.arrayContaining(PROTECTED));
  });

  it('answers 401 on every non-public route without a key, with a bogus key, or with a malformed header', async () => {
    const routes = operations().filter((o) => !o.isPublic).map((o) => o.route);
    expect(routes.length).toBeGreaterThanOrEqual(PROTECTED.length);
    const headers: Record<string, string>[] = [
      {},
      { authorization: 'Bearer trl_bogus' },
      { authorization: `Bearer ${SQLISH}` },
      { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` },
      { authorization: `Bearer ${api.key} extra` },
    ];
    for (const route of routes) {
      for (const h of headers) {
        const res = await api.app.inject({ ...toRequest(route), headers: h });
        expect(res.statusCode, `${route} ${JSON.stringify(h)}`).toBe(401);
        expect(res.json().error.code).toBe('UNAUTHORIZED');
        expect(res.headers['www-authenticate']).toBe('Bearer');
      }
    }
  });

  it('refuses a revoked key', async () => {
    // A key of its own: lookups are cached (docs: revocation takes effect within apiKeyCacheMs),
    // so revoking the shared keys would leak into the other tests. See api-key-cache.test.ts.
    const { key } = await createApiKey(api.database.db, 'globex', 'to-revoke');
    await api.database.db.apiKey.updateMany({ where: { name: 'to-revoke' }, data: { revokedAt: new Date() } });
    const res = await api.app.inject({ method: 'GET', url: '/workflows', headers: { authorization: `Bearer ${key}` } });
    expect(res.statusCode).toBe(401);
  });
});

describe('tenant isolation', () => {
  it("answers 404 for another tenant's workflow on every route and changes nothing", async () => {
    const created = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'mine', definition: definition('mine') } });
    const { id } = created.json();
    const asOther = (opts: InjectOptions) => api.app.inject({ ...opts, headers: { authorization: `Bearer ${api.otherKey}` } });
    const attempts: InjectOptions[] = [
      { method: 'GET', url: `/workflows/${id}` },
      { method: 'PUT', url: `/workflows/${id}`, payload: { definition: definition('stolen') } },
      { method: 'GET', url: `/workflows/${id}/versions/1` },
      { method: 'GET', url: `/workflows/${id}/stats` },
      { method: 'POST', url: `/workflows/${id}/hook-token` },
      { method: 'DELETE', url: `/workflows/${id}/hook-token` },
      { method: 'DELETE', url: `/workflows/${id}` },
    ];
    for (const attempt of attempts) {
      const res = await asOther(attempt);
      expect(res.statusCode, `${attempt.method} ${attempt.url}`).toBe(404);
      expect(res.json().error.code).toBe('NOT_FOUND');
    }
    const list = await asOther({ method: 'GET', url: '/workflows?includeArchived=true' });
    expect(list.json().items.map((w: { id: string }) => w.id)).not.toContain(id);
    const row = await api.database.db.workflow.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({ latestVersion: 1, archivedAt: null, hookTokenHash: null });
  });

  it("does not let a cursor reach another tenant's rows", async () => {
    const created = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'acme-only', definition: definition() } });
    const { id, createdAt } = created.json();
    const cursor = Buffer.from(JSON.stringify([new Date(Date.parse(createdAt) + 1).toISOString(), 'zzz'])).toString('base64url');
    const headers = { authorization: `Bearer ${api.otherKey}` };
    const res = await api.app.inject({ method: 'GET', url: `/workflows?cursor=${cursor}`, headers });
    expect(res.statusCode).toBe(200);
    expect(res.json().items.map((w: { id: string }) => w.id)).not.toContain(id);
  });
});

describe('hostile input', () => {
  const enc = encodeURIComponent(SQLISH);

  it('treats SQL-like ids, names and keys as data', async () => {
    for (const url of [`/workflows/${enc}`, `/workflows/${enc}/versions/1`, `/workflows/${enc}/stats`]) {
      const res = await api.request({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
    }
    expect((await api.request({ method: 'PUT', url: `/workflows/${enc}`, payload: { definition: definition() } })).statusCode).toBe(404);
    expect((await api.request({ method: 'DELETE', url: `/workflows/${enc}` })).statusCode).toBe(404);
    expect((await api.app.inject({ method: 'POST', url: `/hooks/${enc}/${enc}`, payload: {} })).statusCode).toBe(404);

    const payload = { name: SQLISH, description: SQLISH, definition: definition(SQLISH) };
    const created = await api.request({ method: 'POST', url: '/workflows', payload });
    expect(created.statusCode).toBe(201);
    const got = await api.request({ method: 'GET', url: `/workflows/${created.json().id}` });
    expect(got.json()).toMatchObject({ name: SQLISH, description: SQLISH, definition: { name: SQLISH } });
    expect(await api.database.db.workflow.count({ where: { tenant: { name: 'acme' } } })).toBeGreaterThan(0);
  });

  it('refuses SQL-like query parameters with 400, never 500', async () => {
    for (const query of [`cursor=${enc}`, `limit=${enc}`, `includeArchived=${enc}`]) {
      const res = await api.request({ method: 'GET', url: `/workflows?${query}` });
      expect(res.statusCode, query).toBe(400);
    }
    const created = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'q', definition: definition() } });
    const id = created.json().id;
    expect((await api.request({ method: 'GET', url: `/workflows/${id}/stats?window=${enc}` })).statusCode).toBe(400);
    expect((await api.request({ method: 'GET', url: `/workflows/${id}/versions/${enc}` })).statusCode).toBe(400);
  });

  it('refuses a definition of more than 1,000 nodes', async () => {
    const nodes = Array.from({ length: 1_001 }, (_, i) => ({ id: `n${i}`, type: 'noop' }));
    const res = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'huge', definition: definition('huge', nodes) } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details).toEqual(
      expect.arrayContaining([{ path: '/definition/nodes', message: expect.stringContaining('1000') }]),
    );
  });

  it('answers 413 for a body over the limit', async () => {
    const small = await createTestApi({ limits: { bodyLimit: 10_000 } });
    try {
      const payload = { name: 'big', definition: { ...definition('big'), description: 'x'.repeat(20_000) } };
      const res = await small.request({ method: 'POST', url: '/workflows', payload });
      expect(res.statusCode).toBe(413);
      expect(res.json().error.code).toBe('BODY_TOO_LARGE');
      const hook = await small.app.inject({ method: 'POST', url: '/hooks/wf_x/whk_x', payload: { blob: 'x'.repeat(20_000) } });
      expect(hook.statusCode).toBe(413);
    } finally {
      await small.close();
    }
  });
});

describe('rate limit', () => {
  it('answers 429 with the error shape past the limit, per key', async () => {
    const limited = await createTestApi({ limits: { rateLimitPerMinute: 5 } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await limited.request({ method: 'GET', url: '/workflows' })).statusCode);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      const res = await limited.request({ method: 'GET', url: '/workflows' });
      expect(res.statusCode).toBe(429);
      expect(res.json()).toEqual({ error: { code: 'RATE_LIMITED', message: expect.stringContaining('rate limit') } });
      expect(res.headers['retry-after']).toBeDefined();
      const headers = { authorization: `Bearer ${limited.otherKey}` };
      const other = await limited.app.inject({ method: 'GET', url: '/workflows', headers });
      expect(other.statusCode).toBe(200);
      // Another spelling of the same key is the same key: no fresh bucket (issue 9).
      for (const spelling of [`bearer ${limited.key}`, `BEARER ${limited.key}`, `Bearer  ${limited.key}`, `Bearer\t${limited.key}`]) {
        const res = await limited.app.inject({ method: 'GET', url: '/workflows', headers: { authorization: spelling } });
        expect(res.statusCode, JSON.stringify(spelling)).toBe(429);
      }
      // Reads and writes are counted apart: a poller at its read limit can still start runs.
      const write = await limited.request({ method: 'POST', url: '/workflows/validate', payload: { definition: { name: 'x', nodes: [{ id: 'a', type: 'noop' }] } } });
      expect(write.statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('a tenant can have its own limit', async () => {
    const limited = await createTestApi({ limits: { rateLimitPerMinute: 2 } });
    try {
      await limited.database.db.tenant.update({ where: { id: limited.acmeTenantId }, data: { rateLimitPerMinute: 4 } });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await limited.request({ method: 'GET', url: '/workflows' })).statusCode);
      expect(statuses).toEqual([200, 200, 200, 200, 429]);
    } finally {
      await limited.close();
    }
  });

  it('before authentication, requests are limited per client address', async () => {
    const limited = await createTestApi({ limits: { addressRateLimitPerMinute: 3 } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await limited.app.inject({ method: 'GET', url: '/workflows', headers: { authorization: `Bearer trl_guess${i}` } })).statusCode);
      expect(statuses).toEqual([401, 401, 401, 429]);
    } finally {
      await limited.close();
    }
  });
});

describe('/metrics', () => {
  it('answers loopback clients, and others only with TRELLIS_METRICS_TOKEN', async () => {
    const api = await createTestApi();
    try {
      expect((await api.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
      const remote = await api.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.7' });
      expect(remote.statusCode).toBe(403);
      process.env.TRELLIS_METRICS_TOKEN = 'scrape-token';
      try {
        expect((await api.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.7', headers: { authorization: 'Bearer scrape-token' } })).statusCode).toBe(200);
        expect((await api.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(403);
      } finally {
        delete process.env.TRELLIS_METRICS_TOKEN;
      }
    } finally {
      await api.close();
    }
  });
});
