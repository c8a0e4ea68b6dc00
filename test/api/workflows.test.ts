import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../support/api';

const definition = (name = 'demo', nodes: unknown[] = [{ id: 'a', type: 'noop' }]) => ({ name, nodes });

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi();
});
afterAll(async () => {
  await api?.close();
});

async function create(name = 'wf', def: unknown = definition(name)) {
  const res = await api.request({ method: 'POST', url: '/workflows', payload: { name, definition: def } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string; version: number; createdAt: string }>();
}

describe('POST /workflows', () => {
  it('creates version 1 and returns it with its definition', async () => {
    const res = await api.request({
      method: 'POST',
      url: '/workflows',
      payload: { name: 'orders', description: 'sync orders', definition: definition('orders') },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toEqual({
      id: expect.stringMatching(/^wf_[A-Za-z0-9]{20}$/),
      name: 'orders',
      description: 'sync orders',
      version: 1,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      archived: false,
      definition: definition('orders'),
    });
    expect(new Date(body.createdAt).toISOString()).toBe(body.createdAt);
    const version = await api.database.db.workflowVersion.findUnique({
      where: { workflowId_version: { workflowId: body.id, version: 1 } },
    });
    expect(version?.definition).toEqual(definition('orders'));
  });

  it('lists every definition problem with its path under /definition', async () => {
    const res = await api.request({
      method: 'POST',
      url: '/workflows',
      payload: {
        name: 'bad',
        definition: { name: 'bad', nodes: [{ id: 'a', type: 'noop' }, { id: 'a', type: 'nope' }], edges: [{ from: 'a', to: 'ghost' }] },
      },
    });
    expect(res.statusCode).toBe(400);
    const { error } = res.json();
    expect(error.code).toBe('VALIDATION_ERROR');
    const paths = error.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['/definition/nodes/1/id', '/definition/nodes/1/type']));
    expect(paths.some((p: string) => p.startsWith('/definition/edges/0'))).toBe(true);
    for (const d of error.details) expect(d.message).toEqual(expect.any(String));
    expect(await api.database.db.workflow.count({ where: { name: 'bad' } })).toBe(0);
  });

  it('rejects a definition that is not an object', async () => {
    const res = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'x', definition: 'nodes' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details[0].path).toMatch(/^\/definition/);
  });

  it.each([
    ['a missing name', { definition: definition() }, '/body/name'],
    ['a missing definition', { name: 'x' }, '/body/definition'],
    ['an unknown field', { name: 'x', definition: definition(), owner: 'me' }, '/body/owner'],
    ['a name of the wrong type', { name: { first: 'x' }, definition: definition() }, '/body/name'],
    ['an empty name', { name: '', definition: definition() }, '/body/name'],
    ['a description of the wrong type', { name: 'x', description: { a: 1 }, definition: definition() }, '/body/description'],
  ])('rejects %s with the field path', async (_what, payload, path) => {
    const res = await api.request({ method: 'POST', url: '/workflows', payload });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('VALIDATION_ERROR');
    expect(res.json().error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
  });

  it('rejects malformed JSON', async () => {
    const res = await api.request({
      method: 'POST',
      url: '/workflows',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": "x", "definition": ',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('MALFORMED_JSON');
  });

  it('rejects a definition over the size limit', async () => {
    const big = { ...definition('big'), description: 'x'.repeat(600 * 1024) };
    const res = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'big', definition: big } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('DEFINITION_TOO_LARGE');
  });
});

describe('GET /workflows', () => {
  it('pages through every workflow newest first, without duplicates', async () => {
    const scoped = await createTestApi();
    try {
      for (let i = 0; i < 25; i++) {
        const payload = { name: `w${i}`, definition: definition(`w${i}`) };
        const res = await scoped.request({ method: 'POST', url: '/workflows', payload });
        expect(res.statusCode).toBe(201);
      }
      const pages: { id: string; createdAt: string }[][] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/workflows?limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const res = await scoped.request({ method: 'GET', url });
        expect(res.statusCode).toBe(200);
        const body: { items: { id: string; createdAt: string }[]; nextCursor: string | null } = res.json();
        pages.push(body.items);
        cursor = body.nextCursor;
      } while (cursor && pages.length < 10);
      expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
      const all = pages.flat();
      expect(new Set(all.map((w) => w.id)).size).toBe(25);
      const times = all.map((w) => Date.parse(w.createdAt));
      expect(times).toEqual([...times].sort((a, b) => b - a));
      expect(Object.keys(all[0]!).sort()).toEqual(['archived', 'createdAt', 'description', 'id', 'name', 'updatedAt', 'version']);
    } finally {
      await scoped.close();
    }
  });

  it('defaults to 20 items and hides archived workflows unless asked', async () => {
    const { id } = await create('to-archive');
    expect((await api.request({ method: 'DELETE', url: `/workflows/${id}` })).statusCode).toBe(204);
    const visible = await api.request({ method: 'GET', url: '/workflows?limit=100' });
    expect(visible.json().items.map((w: { id: string }) => w.id)).not.toContain(id);
    const all = await api.request({ method: 'GET', url: '/workflows?limit=100&includeArchived=true' });
    expect(all.json().items.find((w: { id: string }) => w.id === id)).toMatchObject({ archived: true });
    const defaults = await api.request({ method: 'GET', url: '/workflows' });
    expect(defaults.json().items.length).toBeLessThanOrEqual(20);
  });

  it.each([
    ['a cursor it did not issue', 'cursor=bm90LWEtY3Vyc29y'],
    ['a limit of 0', 'limit=0'],
    ['a limit over the maximum', 'limit=101'],
    ['a limit that is not a number', 'limit=ten'],
  ])('refuses %s', async (_what, query) => {
    const res = await api.request({ method: 'GET', url: `/workflows?${query}` });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('VALIDATION_ERROR');
  });
});

describe('GET /workflows/:id and versions', () => {
  it('returns the latest version with its definition; older versions stay readable', async () => {
    const { id } = await create('versioned');
    const put = await api.request({
      method: 'PUT',
      url: `/workflows/${id}`,
      payload: { definition: definition('versioned', [{ id: 'b', type: 'noop' }]), description: 'second' },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ id, version: 2, name: 'versioned', description: 'second', archived: false });

    const latest = await api.request({ method: 'GET', url: `/workflows/${id}` });
    expect(latest.statusCode).toBe(200);
    expect(latest.json()).toMatchObject({ id, version: 2, definition: { nodes: [{ id: 'b' }] } });

    const v1 = await api.request({ method: 'GET', url: `/workflows/${id}/versions/1` });
    expect(v1.statusCode).toBe(200);
    expect(v1.json()).toEqual({ id, name: 'versioned', version: 1, createdAt: expect.any(String), definition: definition('versioned') });
    expect((await api.request({ method: 'GET', url: `/workflows/${id}/versions/2` })).json().definition.nodes[0].id).toBe('b');
  });

  it('answers 404 for unknown workflows and versions, 400 for a version that is not a number', async () => {
    const { id } = await create('few-versions');
    const unknown = await api.request({ method: 'GET', url: '/workflows/wf_doesnotexist' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('NOT_FOUND');
    expect((await api.request({ method: 'GET', url: `/workflows/${id}/versions/7` })).statusCode).toBe(404);
    expect((await api.request({ method: 'GET', url: `/workflows/${id}/versions/abc` })).statusCode).toBe(400);
    expect((await api.request({ method: 'GET', url: `/workflows/${id}/versions/0` })).statusCode).toBe(400);
    expect((await api.request({ method: 'GET', url: `/workflows/${id}/versions/99999999999` })).statusCode).toBe(400);
  });
});

describe('PUT /workflows/:id', () => {
  it('gives concurrent updates distinct, consecutive versions', async () => {
    const { id } = await create('concurrent');
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        api.request({
          method: 'PUT',
          url: `/workflows/${id}`,
          payload: { definition: definition('concurrent', [{ id: `n${i}`, type: 'noop' }]) },
        }),
      ),
    );
    for (const r of results) expect(r.statusCode, r.body).toBe(200);
    expect(results.map((r) => r.json().version).sort()).toEqual([2, 3, 4, 5, 6]);
    const rows = await api.database.db.workflowVersion.findMany({ where: { workflowId: id }, orderBy: { version: 'asc' } });
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await api.request({ method: 'GET', url: `/workflows/${id}` })).json().version).toBe(6);
  });

  it('validates the new definition and the envelope', async () => {
    const { id } = await create('put-validation');
    const invalid = await api.request({ method: 'PUT', url: `/workflows/${id}`, payload: { definition: { name: 'x', nodes: [] } } });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error.details[0].path).toMatch(/^\/definition\/nodes/);
    const unknownField = await api.request({ method: 'PUT', url: `/workflows/${id}`, payload: { definition: definition(), version: 9 } });
    expect(unknownField.statusCode).toBe(400);
    expect(unknownField.json().error.details).toEqual([expect.objectContaining({ path: '/body/version' })]);
    expect((await api.request({ method: 'GET', url: `/workflows/${id}` })).json().version).toBe(1);
  });

  it('answers 404 for an unknown workflow', async () => {
    const res = await api.request({ method: 'PUT', url: '/workflows/wf_nope', payload: { definition: definition() } });
    expect(res.statusCode).toBe(404);
  });
});

describe('DELETE /workflows/:id', () => {
  it('archives idempotently, keeps history, and refuses new versions', async () => {
    const { id } = await create('archived');
    const first = await api.request({ method: 'DELETE', url: `/workflows/${id}` });
    expect(first.statusCode).toBe(204);
    expect(first.body).toBe('');
    expect((await api.request({ method: 'DELETE', url: `/workflows/${id}` })).statusCode).toBe(204);
    const got = await api.request({ method: 'GET', url: `/workflows/${id}` });
    expect(got.json()).toMatchObject({ id, archived: true, version: 1 });
    expect((await api.request({ method: 'GET', url: `/workflows/${id}/versions/1` })).statusCode).toBe(200);
    const put = await api.request({ method: 'PUT', url: `/workflows/${id}`, payload: { definition: definition() } });
    expect(put.statusCode).toBe(409);
    expect(put.json().error.code).toBe('CONFLICT');
    expect((await api.request({ method: 'POST', url: `/workflows/${id}/hook-token` })).statusCode).toBe(409);
    expect((await api.request({ method: 'DELETE', url: '/workflows/wf_nope' })).statusCode).toBe(404);
  });
});

describe('POST /workflows/validate', () => {
  it('answers valid definitions and lists problems of invalid ones with 200', async () => {
    const ok = await api.request({ method: 'POST', url: '/workflows/validate', payload: { definition: definition() } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ valid: true, errors: [] });
    const bad = await api.request({
      method: 'POST',
      url: '/workflows/validate',
      payload: {
        definition: {
          name: 'x',
          nodes: [{ id: 'a', type: 'http', config: {} }, { id: 'b', type: 'noop' }],
          edges: [{ from: 'b', to: 'a' }, { from: 'a', to: 'b' }],
        },
      },
    });
    expect(bad.statusCode).toBe(200);
    expect(bad.json().valid).toBe(false);
    const paths = bad.json().errors.map((e: { path: string }) => e.path);
    expect(paths).toContain('/edges');
    expect(paths.some((p: string) => p.startsWith('/nodes/0/config'))).toBe(true);
    expect(await api.database.db.workflow.count({ where: { name: 'x' } })).toBe(0);
  });

  it('answers 400 only for a wrong envelope', async () => {
    expect((await api.request({ method: 'POST', url: '/workflows/validate', payload: {} })).statusCode).toBe(400);
    const extra = await api.request({ method: 'POST', url: '/workflows/validate', payload: { definition: definition(), name: 'x' } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error.details[0].path).toBe('/body/name');
  });
});

describe('hook token', () => {
  it('is created once, rotated, and removed', async () => {
    const { id } = await create('hooked');
    const res = await api.request({ method: 'POST', url: `/workflows/${id}/hook-token` });
    expect(res.statusCode).toBe(201);
    const { token, url } = res.json();
    expect(token).toMatch(/^whk_[A-Za-z0-9_-]{43}$/);
    expect(url).toBe(`/hooks/${id}/${token}`);
    const row = await api.database.db.workflow.findUniqueOrThrow({ where: { id } });
    expect(row.hookTokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.hookTokenHash).not.toContain(token);

    const deleted = await api.request({ method: 'DELETE', url: `/workflows/${id}/hook-token` });
    expect(deleted.statusCode).toBe(204);
    expect((await api.database.db.workflow.findUniqueOrThrow({ where: { id } })).hookTokenHash).toBeNull();
    expect((await api.request({ method: 'POST', url: '/workflows/wf_nope/hook-token' })).statusCode).toBe(404);
    expect((await api.request({ method: 'DELETE', url: '/workflows/wf_nope/hook-token' })).statusCode).toBe(404);
  });
});
