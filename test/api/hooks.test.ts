import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../support/api';

const definition = { name: 'hooked', nodes: [{ id: 'a', type: 'noop' }] };

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi();
});
afterAll(async () => {
  await api?.close();
});

async function hookedWorkflow(): Promise<{ id: string; token: string; url: string }> {
  const created = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'hooked', definition } });
  const { id } = created.json();
  const res = await api.request({ method: 'POST', url: `/workflows/${id}/hook-token` });
  return { id, ...res.json() };
}

/** A hook call carries no API key. */
const hook = (url: string, options: { payload?: unknown; headers?: Record<string, string> } = {}) =>
  api.app.inject({ method: 'POST', url, ...(options as object) });

async function webhookRunsCounted(): Promise<number> {
  const { values } = await api.app.metrics.runsStarted.get();
  return values.find((v) => v.labels.trigger === 'WEBHOOK')?.value ?? 0;
}

describe('POST /hooks/:workflowId/:token', () => {
  it('starts a run with the body as input', async () => {
    const { id, url } = await hookedWorkflow();
    const res = await hook(url, { payload: { order: 42, items: ['a'] } });
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json();
    expect(body).toEqual({ id: expect.any(String), status: 'RUNNING', workflowId: id, version: 1 });
    expect(api.temporal.started.get(body.id)).toMatchObject({ workflowId: id, version: 1, input: { order: 42, items: ['a'] } });
    const row = await api.database.db.execution.findUniqueOrThrow({ where: { id: body.id } });
    expect(row.trigger).toBe('WEBHOOK');
    expect(row.input).toEqual({ order: 42, items: ['a'] });
  });

  it('treats an empty body as {} and accepts any JSON value', async () => {
    const { url } = await hookedWorkflow();
    const empty = await hook(url);
    expect(empty.statusCode, empty.body).toBe(202);
    expect(api.temporal.started.get(empty.json().id)?.input).toEqual({});
    const emptyJson = await hook(url, { headers: { 'content-type': 'application/json' }, payload: '' });
    expect(emptyJson.statusCode, emptyJson.body).toBe(202);
    expect(api.temporal.started.get(emptyJson.json().id)?.input).toEqual({});
    const list = await hook(url, { headers: { 'content-type': 'application/json' }, payload: '[1,2,3]' });
    expect(list.statusCode).toBe(202);
    expect(api.temporal.started.get(list.json().id)?.input).toEqual([1, 2, 3]);
    const malformed = await hook(url, { headers: { 'content-type': 'application/json' }, payload: '{"a":' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.code).toBe('MALFORMED_JSON');
  });

  it('honours Idempotency-Key', async () => {
    const { url } = await hookedWorkflow();
    const before = await webhookRunsCounted();
    const first = await hook(url, { payload: { n: 1 }, headers: { 'idempotency-key': 'delivery-1' } });
    const second = await hook(url, { payload: { n: 1 }, headers: { 'idempotency-key': 'delivery-1' } });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(second.json().id).toBe(first.json().id);
    expect((await webhookRunsCounted()) - before).toBe(1);
  });

  it('answers the same 404 for a wrong token, a missing token, an unknown or archived workflow', async () => {
    const { id, token } = await hookedWorkflow();
    const other = await hookedWorkflow();
    const archived = await hookedWorkflow();
    await api.request({ method: 'DELETE', url: `/workflows/${archived.id}` });
    const urls = [
      `/hooks/${id}/whk_wrong`,
      `/hooks/${id}/${token.slice(0, -1)}`,
      `/hooks/${id}/${other.token}`,
      `/hooks/${id}`,
      `/hooks/${id}/${'x'.repeat(90)}`,
      `/hooks/wf_unknown/${token}`,
      archived.url,
    ];
    const before = api.temporal.startCalls.length;
    for (const url of urls) {
      const res = await hook(url, { payload: {} });
      expect(res.statusCode, url).toBe(404);
      expect(res.json(), url).toEqual({ error: { code: 'NOT_FOUND', message: 'hook not found' } });
    }
    expect(api.temporal.startCalls.length).toBe(before);
  });

  it('stops accepting a token once rotated or removed', async () => {
    const { id, url: oldUrl } = await hookedWorkflow();
    const rotated = await api.request({ method: 'POST', url: `/workflows/${id}/hook-token` });
    const { url: newUrl } = rotated.json();
    expect(newUrl).not.toBe(oldUrl);
    expect((await hook(oldUrl, { payload: {} })).statusCode).toBe(404);
    expect((await hook(newUrl, { payload: {} })).statusCode).toBe(202);
    await api.request({ method: 'DELETE', url: `/workflows/${id}/hook-token` });
    expect((await hook(newUrl, { payload: {} })).statusCode).toBe(404);
  });

  it('is not affected by an API key, valid or not', async () => {
    const { url } = await hookedWorkflow();
    expect((await hook(url, { payload: {}, headers: { authorization: 'Bearer bogus' } })).statusCode).toBe(202);
  });
});
