import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { Keyring, generateKeyText, parseKey } from '../../src/crypto/keyring';
import { createTrellisWorker } from '../../src/worker';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { connectTestServer, type ServerEnv } from '../support/temporal';

/**
 * POST /workflows/test-node's activity types on a real Temporal server and worker (issue 27
 * item 4): an http node against a loopback target runs exactly once (no retries, whatever its
 * own retry says), under the caller's tenant and its secrets, and leaves no run behind.
 */

let server: ServerEnv | undefined;
let database: TestDatabase;
let target: http.Server;
let targetBase: string;
const received: { url: string; authorization?: string }[] = [];
let app: FastifyInstance;
let worker: Worker;
let running: Promise<void>;
let acmeKey: string;
let globexKey: string;
const previousAllow = process.env.TRELLIS_HTTP_ALLOW_PRIVATE;

beforeAll(async () => {
  server = await connectTestServer('test-node server test');
  if (!server) return;
  process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1'; // the target is on loopback
  database = await createTestDatabase();
  target = http.createServer((req, res) => {
    received.push({ url: req.url ?? '', ...(req.headers.authorization && { authorization: req.headers.authorization }) });
    const status = req.url?.startsWith('/fail') ? 500 : 200;
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url, authorization: req.headers.authorization ?? null }));
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetBase = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  const masterKeys = new Keyring(parseKey(generateKeyText(), 'master'));
  const taskQueue = `trellis-test-node-${randomUUID()}`;
  const client = new Client({ connection: server.env.connection, namespace: server.env.namespace });
  worker = await createTrellisWorker({ connection: server.env.nativeConnection, namespace: server.env.namespace, taskQueue, db: database.db, masterKeys, payloadCodec: null });
  running = worker.run();
  app = await buildApp({ db: database.db, temporal: createTemporalGateway(client, taskQueue), catalog: createNodeRegistry().catalog(), masterKeys });
  acmeKey = (await createApiKey(database.db, 'acme')).key;
  globexKey = (await createApiKey(database.db, 'globex')).key;
}, 60_000);

afterAll(async () => {
  if (worker) {
    worker.shutdown();
    await running;
  }
  await app?.close();
  if (target) await new Promise((resolve) => target.close(resolve));
  await database?.drop();
  await server?.env.teardown();
  if (previousAllow === undefined) delete process.env.TRELLIS_HTTP_ALLOW_PRIVATE;
  else process.env.TRELLIS_HTTP_ALLOW_PRIVATE = previousAllow;
});

const call = (key: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) =>
  app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${key}` } });

const httpNode = (path: string, extra: Record<string, unknown> = {}) => ({
  name: 'call-target',
  nodes: [
    { id: 'prepare', type: 'transform', config: { expression: '{ "path": input.path }' } },
    // Five attempts in a run; a test makes one.
    { id: 'call', type: 'http', retry: { maximumAttempts: 5, initialInterval: '100ms' }, config: { method: 'GET', url: `{{ input.base & nodes.prepare.output.path & '${path}' }}`, ...extra } },
  ],
  edges: [{ from: 'prepare', to: 'call' }],
});

describe('POST /workflows/test-node on a worker', () => {
  it('runs an http node once: a 500 is FAILED after one attempt and one request, a 200 SUCCEEDED with the response', async (ctx) => {
    if (!server) return ctx.skip();
    const before = received.length;
    const failed = await call(acmeKey, 'POST', '/workflows/test-node', {
      definition: httpNode(''),
      nodeId: 'call',
      input: { base: targetBase },
      nodes: { prepare: { output: { path: '/fail/once' } } },
    });
    expect(failed.statusCode, failed.body).toBe(200);
    expect(failed.json()).toMatchObject({ status: 'FAILED', output: null, attempts: 1, error: { type: 'HttpServerError', message: expect.stringContaining('500') } });
    // The run would have retried a 500 four more times; the test stops at the one attempt.
    await new Promise((r) => setTimeout(r, 500));
    expect(received.slice(before).map((r) => r.url)).toEqual(['/fail/once']);

    const ok = await call(acmeKey, 'POST', '/workflows/test-node', {
      definition: httpNode('?q=1'),
      nodeId: 'call',
      input: { base: targetBase },
      nodes: { prepare: { output: { path: '/ok' } } },
    });
    expect(ok.statusCode, ok.body).toBe(200);
    const result = ok.json();
    expect(result).toMatchObject({ status: 'SUCCEEDED', error: null, attempts: 1, output: { status: 200, body: { path: '/ok?q=1' } } });
    expect(result.durationMs).toBeGreaterThan(0);
    expect(received.slice(before).map((r) => r.url)).toEqual(['/fail/once', '/ok?q=1']);

    // No run behind: nothing listed, test runs included, and no row.
    expect((await call(acmeKey, 'GET', '/executions')).json().items).toEqual([]);
    expect((await call(acmeKey, 'GET', '/executions?test=true')).json().items).toEqual([]);
    expect(await database.db.execution.count()).toBe(0);
  }, 60_000);

  it("reads the caller's tenant's secrets: its own value of a name both tenants have; a name only another tenant has does not resolve", async (ctx) => {
    if (!server) return ctx.skip();
    expect((await call(acmeKey, 'PUT', '/secrets/TOKEN', { value: 'acme-token' })).statusCode).toBe(200);
    expect((await call(globexKey, 'PUT', '/secrets/TOKEN', { value: 'globex-token' })).statusCode).toBe(200);
    expect((await call(globexKey, 'PUT', '/secrets/GLOBEX_ONLY', { value: 'globex-only' })).statusCode).toBe(200);
    const withSecret = (name: string) => ({
      name: 'secretive',
      nodes: [{ id: 'call', type: 'http', config: { method: 'GET', url: `${targetBase}/secret`, headers: { authorization: `Bearer {{ secrets.${name} }}` } } }],
    });

    const before = received.length;
    const acme = await call(acmeKey, 'POST', '/workflows/test-node', { definition: withSecret('TOKEN'), nodeId: 'call' });
    expect(acme.statusCode, acme.body).toBe(200);
    expect(acme.json().status, acme.body).toBe('SUCCEEDED');
    expect(received.slice(before)).toEqual([{ url: '/secret', authorization: 'Bearer acme-token' }]);
    // What the target echoed comes back with the secret's value redacted, as in a run.
    expect(JSON.stringify(acme.json().output)).not.toContain('acme-token');

    const globex = await call(globexKey, 'POST', '/workflows/test-node', { definition: withSecret('TOKEN'), nodeId: 'call' });
    expect(globex.json().status, globex.body).toBe('SUCCEEDED');
    expect(received.at(-1)).toEqual({ url: '/secret', authorization: 'Bearer globex-token' });

    const stolen = await call(acmeKey, 'POST', '/workflows/test-node', { definition: withSecret('GLOBEX_ONLY'), nodeId: 'call' });
    expect(stolen.statusCode, stolen.body).toBe(400);
    expect(stolen.json().error.details[0].message).toMatch(/GLOBEX_ONLY/);
    expect(received.map((r) => r.authorization)).not.toContain('Bearer globex-only');
  }, 60_000);

  it('a stored workflow of another tenant is a 404; its own tests at the stored version', async (ctx) => {
    if (!server) return ctx.skip();
    const created = await call(globexKey, 'POST', '/workflows', { name: 'g', definition: httpNode('') });
    expect(created.statusCode, created.body).toBe(201);
    const workflowId = created.json().id as string;
    expect((await call(acmeKey, 'POST', '/workflows/test-node', { workflowId, nodeId: 'call' })).statusCode).toBe(404);
    const own = await call(globexKey, 'POST', '/workflows/test-node', { workflowId, version: 1, nodeId: 'call', input: { base: targetBase }, nodes: { prepare: { output: { path: '/stored' } } } });
    expect(own.json(), own.body).toMatchObject({ status: 'SUCCEEDED', output: { status: 200, body: { path: '/stored' } } });
  }, 60_000);
});
