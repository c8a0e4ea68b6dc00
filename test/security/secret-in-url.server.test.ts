import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { Keyring, generateKeyText, parseKey } from '../../src/crypto/keyring';
import { createTrellisWorker } from '../../src/worker';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { connectTestServer, type ServerEnv } from '../support/temporal';

/**
 * Issue 22 item 5 on a real Temporal server: a secret in a URL path (with `|` and spaces, which
 * the URL parser writes back as `tok|en%20with%20space`) appears in the node error, the run
 * error, the mirror, the worker log and the raw history only as `{{ secrets.PATH_TOKEN }}`.
 */
const tag = randomBytes(4).toString('hex');
const PATH_TOKEN = `tok|en with space ${tag}`;

/** Every form the value could come back in. */
function forms(value: string): Record<string, string> {
  const b64 = Buffer.from(value).toString('base64');
  return {
    raw: value,
    'URL parser (path)': new URL(`http://h/${value}`).pathname.slice(1),
    'percent-encoded': encodeURIComponent(value),
    '+ form': new URLSearchParams({ v: value }).toString().slice(2),
    base64: b64.replace(/=+$/, ''),
    base64url: Buffer.from(value).toString('base64url'),
    'JSON-escaped': JSON.stringify(value).slice(1, -1),
  };
}
function leaks(haystack: string | Buffer, where: string): string[] {
  return Object.entries(forms(PATH_TOKEN)).flatMap(([label, text]) =>
    (typeof haystack === 'string' ? haystack.includes(text) : haystack.includes(Buffer.from(text))) ? [`${where}: ${label}`] : [],
  );
}

const workerLines: string[] = [];
try {
  Runtime.install({ logger: new DefaultLogger('DEBUG', (entry) => workerLines.push(`${entry.message} ${JSON.stringify(entry.meta ?? {}, (_k, v: unknown) => (v instanceof Error ? `${v.message}\n${v.stack}` : v))}`)) });
} catch {
  // installed already: the assertion that worker lines were captured fails loudly
}

let server: ServerEnv | undefined;
let database: TestDatabase;
let target: http.Server;
let targetHost: string;
let closedPort: number;
let app: FastifyInstance;
let worker: Worker;
let running: Promise<void>;
let client: Client;
let key: string;
const previousAllow = process.env.TRELLIS_HTTP_ALLOW_PRIVATE;

beforeAll(async () => {
  server = await connectTestServer('secret-in-URL leak test');
  if (!server) return;
  process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1'; // the targets are on loopback
  database = await createTestDatabase();
  // Answers 500, echoing nothing: whatever carries the secret back is the node's own doing.
  target = http.createServer((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('boom'));
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetHost = `127.0.0.1:${(target.address() as AddressInfo).port}`;
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve)); // nothing listens there now
  const masterKeys = new Keyring(parseKey(generateKeyText(), 'master'));
  const taskQueue = `trellis-leaks-${randomUUID()}`;
  client = new Client({ connection: server.env.connection, namespace: server.env.namespace });
  worker = await createTrellisWorker({ connection: server.env.nativeConnection, namespace: server.env.namespace, taskQueue, db: database.db, masterKeys, payloadCodec: null });
  running = worker.run();
  app = await buildApp({ db: database.db, temporal: createTemporalGateway(client, taskQueue), catalog: createNodeRegistry().catalog(), masterKeys });
  key = (await createApiKey(database.db, 'leaky')).key;
});

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

const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) => app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${key}` } });

describe('a secret in a URL path', () => {
  it('is reported as {{ secrets.PATH_TOKEN }} in node and run errors, the mirror, the worker log and the raw history', async (ctx) => {
    if (!server) return ctx.skip();
    expect((await call('PUT', '/secrets/PATH_TOKEN', { value: PATH_TOKEN })).statusCode).toBe(200);
    const definition = {
      name: 'leaky',
      nodes: [
        { id: 'five', type: 'http', onError: 'continue', retry: { maximumAttempts: 1 }, config: { url: 'http://{{ input.target }}/api/{{ secrets.PATH_TOKEN }}/x?q=1' } },
        { id: 'closed', type: 'http', retry: { maximumAttempts: 1 }, config: { url: 'http://{{ input.closed }}/api/{{ secrets.PATH_TOKEN }}' } },
      ],
    };
    const created = await call('POST', '/workflows', { name: 'leaky', definition });
    expect(created.statusCode, created.body).toBe(201);
    const started = await call('POST', '/executions', { workflowId: created.json().id, input: { target: targetHost, closed: `127.0.0.1:${closedPort}` } });
    expect(started.statusCode, started.body).toBe(202);
    const id = started.json().id as string;
    await client.workflow.getHandle(id).result().catch(() => undefined);
    let run = (await call('GET', `/executions/${id}`)).json();
    for (let i = 0; i < 100 && run.status === 'RUNNING'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      run = (await call('GET', `/executions/${id}`)).json();
    }
    expect(run.status, JSON.stringify(run)).toBe('FAILED');
    const nodes = Object.fromEntries((run.nodes as { nodeId: string; error: { message: string } }[]).map((n) => [n.nodeId, n]));
    expect(nodes.five?.error.message).toContain(`GET http://${targetHost}/api/{{ secrets.PATH_TOKEN }}/x returned HTTP 500`);
    expect(nodes.closed?.error.message).toContain(`GET http://127.0.0.1:${closedPort}/api/{{ secrets.PATH_TOKEN }}: `);
    expect(JSON.stringify(run.error)).toContain('{{ secrets.PATH_TOKEN }}');

    const mirror = (
      await database.db.$queryRawUnsafe<{ row: string }[]>(
        `SELECT row_to_json(e)::text AS row FROM executions e WHERE id = $1 UNION ALL SELECT row_to_json(n)::text FROM node_runs n WHERE execution_id = $1`,
        id,
      )
    )
      .map((r) => r.row)
      .join('\n');
    expect(mirror).toContain('{{ secrets.PATH_TOKEN }}');

    const pages: Buffer[] = [];
    let nextPageToken: Uint8Array | undefined;
    do {
      const page = await server.env.client.workflowService.getWorkflowExecutionHistory({ namespace: server.env.namespace, execution: { workflowId: id }, nextPageToken });
      pages.push(Buffer.from(temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse.encode(page).finish()));
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    const history = Buffer.concat(pages);
    expect(history.includes(Buffer.from('/api/{{ secrets.PATH_TOKEN }}/x returned HTTP 500'))).toBe(true); // the failure as recorded

    const failedLines = workerLines.filter((line) => line.startsWith('Activity failed'));
    expect(failedLines.length, 'the worker logged the failed attempts').toBeGreaterThanOrEqual(2);
    expect(failedLines.join('\n')).toContain('{{ secrets.PATH_TOKEN }}');

    expect([
      ...leaks(JSON.stringify(run), 'API run'),
      ...leaks(mirror, 'mirror'),
      ...leaks(history, 'history'),
      ...leaks(workerLines.join('\n'), 'worker log'),
    ]).toEqual([]);
  });
});
