import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { createTestApi, type TestApi } from '../support/api';
import { mutate, mutationArb, nastyValue } from '../support/json-mutate';

/*
 * Thousands of random requests through the real app (Postgres behind it, the fake Temporal
 * gateway, which stays up): arbitrary JSON, near-valid bodies with random mutations, text that is
 * not JSON sent as application/json, huge and deeply nested bodies, odd content types, random ids
 * in paths and random query strings. Asserted on every response: never a 5xx; every 4xx body is
 * `{ error: { code, message } }` with non-empty strings; a 400 VALIDATION_ERROR lists details,
 * each with a string path and a non-empty message; a 2xx body is JSON.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 4_000);

let api: TestApi;
const ids = { workflow: '', execution: '', schedule: '' };
const definition = {
  name: 'fuzz',
  nodes: [
    { id: 'a', type: 'transform', config: { expression: 'input.x' } },
    { id: 'ok', type: 'approval', config: { timeout: '1h' } },
    { id: 'c', type: 'condition', config: { expression: 'true' } },
    { id: 'd', type: 'noop' },
  ],
  edges: [
    { from: 'a', to: 'ok' },
    { from: 'ok', to: 'c' },
    { from: 'c', to: 'd', when: 'true' },
  ],
};

beforeAll(async () => {
  api = await createTestApi({ limits: { rateLimitPerMinute: 1_000_000 } });
  const created = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'fuzz', definition } });
  ids.workflow = created.json<{ id: string }>().id;
  const started = await api.request({ method: 'POST', url: '/executions', payload: { workflowId: ids.workflow, input: { x: 1 } } });
  ids.execution = started.json<{ id: string }>().id;
  const scheduled = await api.request({ method: 'POST', url: `/workflows/${ids.workflow}/schedules`, payload: { cron: '*/5 * * * *' } });
  ids.schedule = scheduled.json<{ id: string }>().id;
  expect([created.statusCode, started.statusCode, scheduled.statusCode]).toEqual([201, 202, 201]);
});
afterAll(async () => {
  await api?.close();
});

function expectWellFormed(res: LightMyRequestResponse, request: string): void {
  const where = `${request} → ${res.statusCode} ${res.body.slice(0, 500)}`;
  expect(res.statusCode, where).toBeLessThan(500);
  if (res.statusCode === 204) return;
  let body: unknown;
  expect(() => (body = JSON.parse(res.body)), where).not.toThrow();
  if (res.statusCode < 400) return;
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } }).error;
  expect(typeof error?.code === 'string' && error.code.length > 0, where).toBe(true);
  expect(typeof error?.message === 'string' && error.message.trim().length > 0, where).toBe(true);
  if (res.statusCode === 400 && error!.code === 'VALIDATION_ERROR') {
    expect(Array.isArray(error!.details) && error!.details.length > 0, where).toBe(true);
    for (const d of error!.details as { path?: unknown; message?: unknown }[]) {
      expect(typeof d.path === 'string' && (d.path === '' || d.path.startsWith('/')), where).toBe(true);
      expect(typeof d.message === 'string' && d.message.trim().length > 0, where).toBe(true);
    }
  }
}

/** A path segment: one of the real ids, or something random (encoded, or raw bytes). */
const idArb = (real: () => string) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constant(null).map(() => real()) },
    // Fastify's router refuses a parameter over 100 characters (414) before any route runs: that case
    // is the dedicated test below, so random ids stay within it here.
    fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => encodeWithin(s, 100) || 'x'),
    fc.constantFrom('..', '%2F', '%25', 'a'.repeat(100), '%00', '__proto__', 'null', '-1', '1e999'),
  );

/** encodeURIComponent of the longest prefix (whole characters) that encodes to at most `max` characters. */
function encodeWithin(text: string, max: number): string {
  let out = '';
  for (const ch of text) {
    const next = out + encodeURIComponent(ch);
    if (next.length > max) break;
    out = next;
  }
  return out;
}

interface Route {
  method: 'POST' | 'PUT' | 'PATCH';
  url: string;
  template: unknown;
}
const routeArb: fc.Arbitrary<Route> = fc.oneof(
  fc.constant(null).map(() => ({ method: 'POST' as const, url: '/workflows', template: { name: 'w', description: 'd', definition } })),
  idArb(() => ids.workflow).map((id) => ({ method: 'PUT' as const, url: `/workflows/${id}`, template: { definition, name: 'w2' } })),
  fc.constant(null).map(() => ({ method: 'POST' as const, url: '/workflows/validate', template: { definition } })),
  fc.constant(null).map(() => ({ method: 'POST' as const, url: '/executions', template: { workflowId: ids.workflow, version: 1, input: { x: 2 }, idempotencyKey: 'k' } })),
  idArb(() => ids.execution).map((id) => ({ method: 'POST' as const, url: `/executions/${id}/cancel`, template: { reason: 'why' } })),
  fc
    .tuple(idArb(() => ids.execution), idArb(() => 'ok'))
    .map(([id, node]) => ({ method: 'POST' as const, url: `/executions/${id}/nodes/${node}/approve`, template: { approved: true, data: { a: 1 } } })),
  idArb(() => ids.workflow).map((id) => ({
    method: 'POST' as const,
    url: `/workflows/${id}/schedules`,
    template: { cron: '0 * * * *', timezone: 'Europe/Paris', input: {}, overlap: 'skip', paused: false, catchupWindow: '10m' },
  })),
  idArb(() => ids.schedule).map((id) => ({ method: 'PATCH' as const, url: `/schedules/${id}`, template: { cron: '*/10 * * * *', paused: true, note: 'n' } })),
);

const HUGE = 'x'.repeat(1_100_000);
const deep = (n: number, open = '[', close = ']') => open.repeat(n) + close.repeat(n);
/** The raw text sent, and its content type (undefined: none). */
const bodyArb = (template: unknown): fc.Arbitrary<{ payload: string; type?: string }> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 4 }).map((m) => ({ payload: JSON.stringify(mutate(template, m)), type: 'application/json' })) },
    { weight: 1, arbitrary: fc.constant({ payload: JSON.stringify(template), type: 'application/json' }) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 5 }).map((v) => ({ payload: JSON.stringify(v) ?? 'null', type: 'application/json' })) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).map((s) => ({ payload: s, type: 'application/json' })) },
    fc.constantFrom(
      { payload: '', type: 'application/json' },
      { payload: '{"name": "x",', type: 'application/json' },
      { payload: '{"__proto__": {"admin": true}, "constructor": {"prototype": {}}}', type: 'application/json' },
      { payload: JSON.stringify({ name: HUGE }), type: 'application/json' },
      { payload: JSON.stringify({ workflowId: 'x', input: { s: 'y'.repeat(300_000) } }), type: 'application/json' },
      { payload: deep(5_000), type: 'application/json' },
      { payload: `{"definition":${'{"a":'.repeat(500)}1${'}'.repeat(501)}`, type: 'application/json' },
      { payload: JSON.stringify({ input: JSON.parse(deep(900)) }), type: 'application/json' },
      { payload: JSON.stringify(template), type: 'text/plain' },
      { payload: JSON.stringify(template), type: 'application/json; charset=latin1' },
      { payload: JSON.stringify(template), type: 'application/x-www-form-urlencoded' },
      { payload: JSON.stringify(template) },
    ),
    fc.tuple(nastyValue, fc.constantFrom('input', 'definition', 'data', 'name')).map(([v, key]) => ({
      payload: JSON.stringify({ ...(template as object), [key]: v }),
      type: 'application/json',
    })),
  );

/**
 * Text Postgres cannot store: NUL anywhere, unpaired UTF-16 surrogates in JSON (raw, escaped or
 * percent-encoded). The API answers those with 500 today (see the dedicated test below), so the
 * random properties skip them to keep looking for other failures.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
function unstorable(text: string): boolean {
  let decoded = text;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    // not percent-encoded text
  }
  return /\\u0000|%00|\\ud[89a-f]|%ED%[AB]/i.test(text) || text.includes('\u0000') || decoded.includes('\u0000') || LONE_SURROGATE.test(text) || LONE_SURROGATE.test(decoded);
}

async function send(method: string, url: string, body?: { payload: string; type?: string }, headers: Record<string, string> = {}) {
  const res = await api.request({
    method: method as 'POST',
    url,
    payload: body?.payload,
    headers: { ...(body?.type ? { 'content-type': body.type } : {}), ...headers },
  });
  expectWellFormed(res, `${method} ${url} ${body ? `[${body.type}] ${body.payload.slice(0, 300)}` : ''}`);
}

describe('the API under fuzzing', () => {
  it('never answers a random body with a 5xx, and every error is well formed', async () => {
    await fc.assert(
      fc.asyncProperty(
        routeArb.chain((route) => fc.tuple(fc.constant(route), bodyArb(route.template), fc.option(fc.string({ maxLength: 300 }), { nil: undefined }))),
        async ([route, body, idempotencyKey]) => {
          fc.pre(!unstorable(route.url + body.payload + (idempotencyKey ?? '')));
          await send(route.method, route.url, body, idempotencyKey !== undefined && route.url === '/executions' ? { 'idempotency-key': idempotencyKey } : {});
        },
      ),
      { numRuns: RUNS },
    );
  }, 300_000);

  // Fastify rejects these URLs before routing (FST_ERR_BAD_URL, FST_ERR_MAX_PARAM_LENGTH); the answer must
  // still be the API's error shape.
  it('answers malformed percent-encodings and over-long ids in paths with the error shape', async () => {
    for (const bad of ['%', '%zz', '%E0%A4%A', '%C0%80', 'a'.repeat(101), encodeURIComponent('é'.repeat(60))]) {
      await send('PUT', `/workflows/${bad}`, { payload: '{}', type: 'application/json' });
      await send('POST', `/executions/${bad}/cancel`, { payload: '{}', type: 'application/json' });
      await send('PATCH', `/schedules/${bad}`, { payload: '{}', type: 'application/json' });
    }
  });

  // Found by this suite: NUL and unpaired surrogates reach Postgres, which refuses them (22P05,
  // 22021), and the API answers 500. They should be a 400 with the field's path.
  it('answers strings Postgres cannot store (NUL, unpaired surrogates) with 400, not 500', async () => {
    for (const bad of ['nul\u0000', 'lone\ud800', 'lone\udc00x']) {
      await send('POST', '/workflows', { payload: JSON.stringify({ name: bad, definition }), type: 'application/json' });
      await send('POST', '/workflows', { payload: JSON.stringify({ name: 'w', definition: { ...definition, description: bad } }), type: 'application/json' });
      await send('PUT', `/workflows/${ids.workflow}`, { payload: JSON.stringify({ definition: { ...definition, name: bad } }), type: 'application/json' });
      await send('POST', '/executions', { payload: JSON.stringify({ workflowId: ids.workflow, input: { s: bad } }), type: 'application/json' });
      await send('POST', '/executions', { payload: JSON.stringify({ workflowId: ids.workflow, idempotencyKey: bad }), type: 'application/json' });
      await send('POST', `/workflows/${ids.workflow}/schedules`, { payload: JSON.stringify({ cron: '0 * * * *', input: bad, note: bad }), type: 'application/json' });
      await send('PATCH', `/schedules/${ids.schedule}`, { payload: JSON.stringify({ input: bad }), type: 'application/json' });
    }
    await send('GET', '/executions?workflowId=%00');
    await send('GET', '/workflows/%00');
  });

  // Found by this suite: JSON.parse takes any depth, but JSON.stringify (input size check, Prisma)
  // overflows the stack past a few thousand levels: 500. A depth limit should answer 400.
  it('answers deeply nested JSON (10,000 levels) with 400, not 500', async () => {
    const nested = deep(10_000);
    const config = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    await send('POST', '/executions', { payload: `{"workflowId":"${ids.workflow}","input":${nested}}`, type: 'application/json' });
    await send('POST', '/workflows', { payload: `{"name":"x","definition":{"name":"x","nodes":[{"id":"a","type":"noop","config":${config}}]}}`, type: 'application/json' });
    await send('POST', '/workflows/validate', { payload: `{"definition":{"name":"x","nodes":[{"id":"a","type":"noop","config":${config}}]}}`, type: 'application/json' });
    await send('POST', `/workflows/${ids.workflow}/schedules`, { payload: `{"cron":"0 * * * *","input":${nested}}`, type: 'application/json' });
  });

  it('never answers random query strings on the lists with a 5xx', async () => {
    const value = fc.oneof(
      fc.constantFrom('', '0', '-1', '1', '100', '101', '1e400', '2.5', 'true', 'RUNNING', 'running', 'NOPE', '%zz', 'a'.repeat(2_000)),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.constant(null).map(() => ids.workflow),
    );
    const key = fc.constantFrom('limit', 'cursor', 'workflowId', 'status', 'includeArchived', 'window', '__proto__', 'limit[]', '');
    const query = fc.oneof(
      fc.array(fc.tuple(key, value), { maxLength: 5 }).map((pairs) => new URLSearchParams(pairs).toString()),
      fc.string({ unit: 'binary', maxLength: 80 }).map((s) => s.replace(/[#\s]/g, '')),
      fc.constantFrom('limit=1&limit=2', 'cursor=%E0%A4%A', '&&&==', 'status[]=RUNNING', 'cursor=eyJpZCI6MX0', 'cursor=' + Buffer.from('{"createdAt":"x","id":1}').toString('base64url')),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/workflows', '/executions'), query, async (path, q) => {
        fc.pre(!unstorable(q));
        await send('GET', `${path}?${q}`);
      }),
      { numRuns: RUNS },
    );
  }, 300_000);
});
