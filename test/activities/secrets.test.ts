import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpNodeType } from '../../src/activities/nodes/http';
import { closePostgresPools, postgresNodeType } from '../../src/activities/nodes/postgres';
import { defineNodeType, toActivity } from '../../src/activities/registry';
import { Type } from '@sinclair/typebox';
import type { NodeActivityInput, NodeActivityResult } from '../../src/contracts/node-activity';
import { createApiKey } from '../../src/services/api-keys';
import { Keyring, generateKeyText, parseKey } from '../../src/crypto/keyring';
import { putSecret, secretSource } from '../../src/services/secrets';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { failure, newActivityEnv } from '../support/activity';
import { Redactor, showSecretTemplates } from '../../src/activities/secrets';

/** Every way a value may be written back: raw, URL parser (path and query), percent, `+` form, base64, JSON. */
function encodings(value: string): string[] {
  const b64 = Buffer.from(value).toString('base64');
  return [
    value,
    new URL(`http://h/${value}`).pathname.slice(1),
    new URL(`http://h/?${value}`).search.slice(1),
    encodeURIComponent(value),
    encodeURI(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    b64,
    b64.replace(/=+$/, ''),
    Buffer.from(value).toString('base64url'),
    JSON.stringify(value).slice(1, -1),
  ];
}

const TOKEN = 'tok_Zx9/+secret==value';
const API_KEY = 'key with spaces&symbols';
const PASSWORD = 'p@ss:w0rd!';
/** The issue's value: the URL parser writes it back as `tok|en%20with%20space`, which no older form matched. */
const PATH_TOKEN = 'tok|en with space';
const keyring = new Keyring(parseKey(generateKeyText(), 'test'));

let t: TestDatabase;
let acme: string;
let globex: string;
let server: http.Server;
let base: string;
const seen: { url: string; headers: http.IncomingHttpHeaders }[] = [];
const previousAllow = process.env.TRELLIS_HTTP_ALLOW_PRIVATE;

beforeAll(async () => {
  process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1';
  t = await createTestDatabase();
  acme = (await createApiKey(t.db, 'acme')).tenantId;
  globex = (await createApiKey(t.db, 'globex')).tenantId;
  await putSecret(t.db, keyring, acme, 'TOKEN', TOKEN);
  await putSecret(t.db, keyring, acme, 'API_KEY', API_KEY);
  await putSecret(t.db, keyring, acme, 'USER', 'alice');
  await putSecret(t.db, keyring, acme, 'PASSWORD', PASSWORD);
  await putSecret(t.db, keyring, acme, 'PATH_TOKEN', PATH_TOKEN);
  await putSecret(t.db, keyring, acme, 'PG_REPORTS_URL', t.url);
  // The target echoes what it received, in every encoding, so redaction has something to catch.
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    const echo = { url: req.url, authorization: req.headers.authorization, token: req.headers['x-token'], b64: Buffer.from(TOKEN).toString('base64') };
    res.writeHead(req.url?.startsWith('/deny') ? 403 : 200, { 'content-type': 'application/json', 'x-echo': encodeURIComponent(TOKEN) });
    res.end(JSON.stringify(echo));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  if (previousAllow === undefined) delete process.env.TRELLIS_HTTP_ALLOW_PRIVATE;
  else process.env.TRELLIS_HTTP_ALLOW_PRIVATE = previousAllow;
  await closePostgresPools();
  await new Promise((resolve) => server?.close(resolve));
  await t?.drop();
});

const httpActivity = () => toActivity(httpNodeType, undefined, secretSource(t.db, keyring));
const run = (activity: ReturnType<typeof toActivity>, input: Partial<NodeActivityInput>) =>
  newActivityEnv().run(activity, { nodeId: 'n', executionId: 'e', config: {}, ...input }) as Promise<NodeActivityResult>;

/** The config the workflow sends: secret parts kept as names, at pointers it lists. */
function input(path: string, tenantId = acme): Partial<NodeActivityInput> {
  return {
    tenantId,
    config: {
      url: { $secretTemplate: [base, path] },
      headers: { authorization: { $secretTemplate: ['Bearer ', { secret: 'TOKEN' }] }, 'x-token': { $secretTemplate: [{ secret: 'TOKEN' }] } },
      query: { api_key: { $secretTemplate: [{ secret: 'API_KEY' }] } },
    },
    secretPaths: ['/url', '/headers/authorization', '/headers/x-token', '/query/api_key'],
  };
}

describe('secret resolution in activities', () => {
  it('sends the values and redacts them, in every encoding, from the output', async () => {
    const result = await run(httpActivity(), input('/ok'));
    const request = seen.at(-1)!;
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request.headers['x-token']).toBe(TOKEN);
    expect(new URL(request.url, base).searchParams.get('api_key')).toBe(API_KEY);
    const text = JSON.stringify(result);
    for (const form of [TOKEN, Buffer.from(TOKEN).toString('base64'), encodeURIComponent(TOKEN), encodeURIComponent(API_KEY), new URLSearchParams({ k: API_KEY }).toString().slice(2)]) {
      expect(text).not.toContain(form);
    }
    expect(result.output).toMatchObject({ body: { authorization: '[secret:TOKEN]', token: '[secret:TOKEN]', b64: '[secret:TOKEN]' } });
    expect((result.output as { headers: Record<string, string> }).headers['x-echo']).toBe('[secret:TOKEN]');
  });

  it('resolves basic auth in the URL and redacts the credentials from errors', async () => {
    const err = await failure(
      run(httpActivity(), {
        tenantId: acme,
        config: { url: { $secretTemplate: ['http://', { secret: 'USER' }, ':', { secret: 'PASSWORD' }, `@${base.slice(7)}/deny?k=`, { secret: 'TOKEN' }] } },
        secretPaths: ['/url'],
      }),
    );
    const request = seen.at(-1)!;
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`);
    expect(err.type).toBe('HttpClientError');
    const text = JSON.stringify({ message: err.message, details: err.details, stack: err.stack });
    for (const form of [TOKEN, PASSWORD, Buffer.from(`alice:${PASSWORD}`).toString('base64'), encodeURIComponent(TOKEN), encodeURIComponent(PASSWORD)]) {
      expect(text).not.toContain(form);
    }
    expect(JSON.stringify(err.details)).toContain('[secret:TOKEN]');
  });

  it("finds only the run's own tenant's secrets", async () => {
    const err = await failure(run(httpActivity(), input('/ok', globex)));
    expect(err.type).toBe('SecretNotFound');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(/secrets "TOKEN", "API_KEY" not found for this run's tenant/);
    const none = await failure(run(httpActivity(), { ...input('/ok'), tenantId: undefined }));
    expect(none.type).toBe('SecretNotFound');
  });

  it('resolves only at the pointers the workflow lists: a template-shaped value from input stays data', async () => {
    const result = await run(httpActivity(), {
      tenantId: acme,
      config: { url: `${base}/ok`, method: 'POST', body: { forged: { $secretTemplate: [{ secret: 'TOKEN' }] } } },
    });
    expect(result.output).toMatchObject({ status: 200 });
    expect(JSON.stringify(result)).not.toContain(TOKEN);
  });

  it('refuses references in fields the node type does not declare secret-capable', async () => {
    const custom = defineNodeType({ type: 'echo', configSchema: Type.Object({ text: Type.String() }), run: async (config) => config });
    const err = await failure(
      run(toActivity(custom, undefined, secretSource(t.db, keyring)), {
        tenantId: acme,
        config: { text: { $secretTemplate: [{ secret: 'TOKEN' }] } },
        secretPaths: ['/text'],
      }),
    );
    expect(err.type).toBe('ConfigError');
    expect(err.message).toMatch(/"text" of type "echo" cannot hold secret references/);
  });

  it('connects postgres through a connection-URL secret of the tenant only', async () => {
    const pgActivity = toActivity(postgresNodeType, undefined, secretSource(t.db, keyring));
    const result = await run(pgActivity, { tenantId: acme, config: { connection: 'reports', sql: 'SELECT current_database() AS db, 1 + $1::int AS n', params: [1] } });
    expect(result.output).toEqual({ rows: [{ db: new URL(t.url).pathname.slice(1), n: 2 }], rowCount: 1 });
    const other = await failure(run(pgActivity, { tenantId: globex, config: { connection: 'reports', sql: 'SELECT 1' } }));
    expect(other.type).toBe('ConfigError');
    expect(other.message).toContain('PG_REPORTS_URL');
  });

  it('names a request whose URL path holds a secret by its template, in the failure and its details', async () => {
    const config = { url: { $secretTemplate: [`${base}/deny/`, { secret: 'PATH_TOKEN' }, '/x?k=', { secret: 'TOKEN' }] } };
    const refused = await failure(run(httpActivity(), { tenantId: acme, config, secretPaths: ['/url'] }));
    const sent = new URL(`${base}/deny/${PATH_TOKEN}/x?k=${TOKEN}`);
    expect(seen.at(-1)!.url).toBe(`${sent.pathname}${sent.search}`);
    expect(refused.type).toBe('HttpClientError');
    expect(refused.message).toBe(`GET ${base}/deny/{{ secrets.PATH_TOKEN }}/x returned HTTP 403`);
    // Nothing listens on port 1: a network error, named the same way.
    const closed = { url: { $secretTemplate: ['http://127.0.0.1:1/', { secret: 'PATH_TOKEN' }] } };
    const unreachable = await failure(run(httpActivity(), { tenantId: acme, config: closed, secretPaths: ['/url'] }));
    expect(unreachable.type).toBe('HttpNetworkError');
    expect(unreachable.message).toMatch(/^GET http:\/\/127\.0\.0\.1:1\/\{\{ secrets\.PATH_TOKEN \}\}: /);
    const invalid = await failure(run(httpActivity(), { tenantId: acme, config: { url: { $secretTemplate: ['http://[', { secret: 'PATH_TOKEN' }] } }, secretPaths: ['/url'] }));
    expect(invalid.message).toBe('invalid URL "http://[{{ secrets.PATH_TOKEN }}"');
    for (const err of [refused, unreachable, invalid]) {
      const text = JSON.stringify({ message: err.message, details: err.details, stack: err.stack, cause: String(err.cause), causeStack: err.cause?.stack });
      for (const form of [...encodings(PATH_TOKEN), ...encodings(TOKEN)]) expect(text, form).not.toContain(form);
    }
  });

  it('shows the config with each secret-built string in its template form, and nothing else changed', () => {
    const config = { url: { $secretTemplate: ['https://', { secret: 'USER' }, '@h/', { secret: 'PATH_TOKEN' }] }, plain: 'x', forged: { $secretTemplate: [{ secret: 'TOKEN' }] } };
    expect(showSecretTemplates(config, ['/url'])).toEqual({ url: 'https://{{ secrets.USER }}@h/{{ secrets.PATH_TOKEN }}', plain: 'x', forged: config.forged });
    expect(config.url).toHaveProperty('$secretTemplate'); // a copy: the config to resolve is untouched
  });

  it('redacts, as a last line of defence, every encoding of a value and of a URL built from it', () => {
    const redactor = new Redactor();
    redactor.add('PATH_TOKEN', PATH_TOKEN);
    redactor.addDerived('PATH_TOKEN', `http://example.test/a/${PATH_TOKEN}`);
    for (const form of encodings(PATH_TOKEN)) expect(redactor.text(`before ${form} after`), form).toBe('before [secret:PATH_TOKEN] after');
    expect(redactor.text(`GET ${new URL(`http://example.test/a/${PATH_TOKEN}`).href} failed`)).toBe('GET [secret:PATH_TOKEN] failed');
    const lone = new Redactor();
    lone.add('ODD', 'ab\ud800cd'); // a lone surrogate: the URL parser writes U+FFFD
    expect(lone.text(new URL('http://h/ab\ud800cd').pathname.slice(1))).toBe('[secret:ODD]');
  });
});
