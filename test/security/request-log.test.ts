import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { REDACTED, redactUrl, redactUrlsIn } from '../../src/api/request-log';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';
import { createTestDatabase, type TestDatabase } from '../support/database';

/** DESIGN §8: credentials in request URLs (webhook tokens) never reach a log. */
let database: TestDatabase;
let app: FastifyInstance;
let key: string;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  app = await buildApp({
    db: database.db,
    temporal: new FakeTemporalGateway(),
    catalog: createNodeRegistry().catalog(),
    logger: { level: 'info', stream: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) } },
  });
  await app.ready();
  key = (await createApiKey(database.db, 'acme')).key;
});
afterAll(async () => {
  await app?.close();
  await database?.drop();
});

describe('the API request log', () => {
  it('never holds a webhook token, a credential query parameter or the API key, whatever the call answered', async () => {
    const created = await app.inject({ method: 'POST', url: '/workflows', headers: { authorization: `Bearer ${key}` }, payload: { name: 'hooked', definition: { name: 'hooked', nodes: [{ id: 'a', type: 'noop' }] } } });
    const { id } = created.json();
    const { token } = (await app.inject({ method: 'POST', url: `/workflows/${id}/hook-token`, headers: { authorization: `Bearer ${key}` } })).json();
    expect(token).toMatch(/.{20,}/);
    const before = lines.length;
    const calls = [
      { url: `/hooks/${id}/${token}`, status: 202 },
      { url: `/hooks/${id}/${token}?x=1`, status: 202 },
      { url: `/hooks/${id}/${token}x`, status: 404 }, // a wrong token is still a credential guess
      { url: `/hooks/${id}/${token}/more`, status: 404 },
      { url: `/workflows?access_token=${token}&limit=1&api_key=${token}`, status: 401 },
      { url: `/hooks/${id}/%E0%A4%A${token}`, status: 400 }, // bad percent-encoding: the router's error
    ];
    for (const call of calls) {
      const res = await app.inject({ method: 'POST', url: call.url, headers: { cookie: `trellis_codec=${token}` }, payload: {} });
      expect(res.statusCode, `${call.url}: ${res.body}`).toBe(call.status);
    }
    const listed = await app.inject({ method: 'GET', url: '/workflows', headers: { authorization: `Bearer ${key}` } });
    expect(listed.headers['x-content-type-options']).toBe('nosniff'); // every API response, not only the console's
    const logged = lines.slice(before);
    const urls = logged.flatMap((line) => ((line.req as { url?: string } | undefined)?.url ? [(line.req as { url: string }).url] : []));
    expect(urls).toEqual(expect.arrayContaining([`/hooks/${id}/${REDACTED}`, `/hooks/${id}/${REDACTED}?x=1`, `/hooks/${id}/${REDACTED}/more`, `/workflows?access_token=${REDACTED}&limit=1&api_key=${REDACTED}`]));
    const text = JSON.stringify(logged);
    expect(logged.length).toBeGreaterThanOrEqual(calls.length * 2);
    expect(text).not.toContain(token);
    expect(text).not.toContain(key);
  });

  it('redacts by parameter name and the hook path, and leaves other URLs as they were', () => {
    expect(redactUrl('/hooks/w1/abc')).toBe(`/hooks/w1/${REDACTED}`);
    expect(redactUrl('/executions?status=FAILED&limit=10')).toBe('/executions?status=FAILED&limit=10');
    expect(redactUrl('/x?Token=a&signature=b&X-Amz-Signature=c&password=d&code=e&codec=f')).toBe(
      `/x?Token=${REDACTED}&signature=${REDACTED}&X-Amz-Signature=${REDACTED}&password=${REDACTED}&code=${REDACTED}&codec=f`,
    );
    expect(redactUrl('/x?%74oken=a')).toBe(`/x?%74oken=${REDACTED}`); // an encoded name is still the name
    expect(redactUrlsIn("'/hooks/w/s3cr3t' is not a valid url component; see /x?key=k1")).toBe(`'/hooks/w/${REDACTED}' is not a valid url component; see /x?key=${REDACTED}`);
  });
});
