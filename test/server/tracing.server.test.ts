import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Worker } from '@temporalio/worker';
import { loadConfig } from '../../src/config';
import { startTracing, type Tracing } from '../../src/observability/tracing';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { createTemporalClient } from '../../src/temporal/client';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createTrellisWorker } from '../../src/worker';
import { connectTestServer, type ServerEnv } from '../support/temporal';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';

// One trace per run (DESIGN §7): the API and a worker in this process with tracing on as their
// processes start it (OTEL_* through the config), exporting OTLP/JSON to a loopback collector.
// A real HTTP request to the listening API starts a run whose http node calls a loopback target;
// the request span, the client's start, the workflow's spans, the node attempt, its request, the
// target's `traceparent` and the Postgres queries all carry the same trace id.
const SECRET = 'sk-trace-0123456789abcdef';

let receiver: OtlpReceiver;
let tracing: Tracing;
let server: ServerEnv | undefined;
let database: TestDatabase;
let app: FastifyInstance;
let apiBase: string;
let apiKey: string;
let worker: Worker;
let running: Promise<void>;
let target: http.Server;
let targetBase: string;
const traceparents: string[] = [];
const taskQueue = `trellis-tracing-${randomUUID()}`;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  const config = loadConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, { role: 'library' });
  tracing = startTracing(config, 'api')!;
  server = await connectTestServer('tracing server tests');
  if (!server) return;
  process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1';
  database = await createTestDatabase();
  ({ key: apiKey } = await createApiKey(database.db, 'acme'));
  target = http.createServer((req, res) => {
    traceparents.push(String(req.headers.traceparent ?? ''));
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', () => resolve()));
  targetBase = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  const client = createTemporalClient(server.env.connection, { namespace: server.env.namespace ?? 'default' });
  const registry = createNodeRegistry();
  app = await buildApp({ db: database.db, temporal: createTemporalGateway(client, taskQueue), catalog: registry.catalog(), codecCorsOrigins: [] });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apiBase = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  worker = await createTrellisWorker({ connection: server.env.nativeConnection, namespace: server.env.namespace, taskQueue, registry, payloadCodec: null, db: database.db });
  running = worker.run();
}, 120_000);

afterAll(async () => {
  if (server) {
    worker.shutdown();
    await running;
    await app.close();
    await new Promise<void>((resolve) => target.close(() => resolve()));
    await database.drop();
    await server.env.teardown();
  }
  await tracing?.shutdown();
  await receiver?.close();
});

async function api(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${apiBase}${path}`, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

describe('traces', () => {
  it('follows a run from POST /executions through the workflow and the node attempt to the target', async (ctx) => {
    if (!server) return ctx.skip();
    const definition = {
      name: 'traced',
      nodes: [
        { id: 'fetch', type: 'http', config: { method: 'GET', url: `${targetBase}/ok?token=${SECRET}` } },
        { id: 'shape', type: 'transform', config: { expression: '{ "ok": $.nodes.fetch.body.ok }' } },
      ],
      edges: [{ from: 'fetch', to: 'shape' }],
    };
    const workflow = await api('POST', '/workflows', { name: 'traced', definition });
    const run = await api('POST', '/executions', { workflowId: workflow.id, input: {} });
    await server.env.client.workflow.getHandle(String(run.id)).result();
    await tracing.flush();

    const spans = receiver.spans();
    const request = spans.find((s) => s.name === 'POST /executions');
    expect(request, `spans: ${spans.map((s) => s.name).join(', ')}`).toBeDefined();
    expect(request).toMatchObject({ kind: 2, attributes: { 'http.route': '/executions' } }); // SERVER
    const traceId = request!.traceId;
    const ofRun = spans.filter((s) => s.traceId === traceId);
    const named = (name: string) => ofRun.filter((s) => s.name === name);
    const byId = new Map(ofRun.map((s) => [s.spanId, s]));
    const parentOf = (span: ReceivedSpan) => (span.parentSpanId ? byId.get(span.parentSpanId) : undefined);

    // API request → client start → workflow → activity start → node attempt → its request.
    const start = named('StartWorkflow:dagWorkflow')[0];
    expect(start).toBeDefined();
    const runWorkflow = named('RunWorkflow:dagWorkflow')[0];
    expect(runWorkflow).toBeDefined();
    expect(parentOf(runWorkflow!)?.name).toBe('StartWorkflow:dagWorkflow');
    const attempt = named('RunActivity:http')[0];
    expect(attempt).toMatchObject({ attributes: { 'trellis.execution_id': run.id, 'trellis.node_id': 'fetch', 'trellis.attempt': 1 } });
    expect(parentOf(attempt!)?.name).toBe('StartActivity:http');
    const outgoing = ofRun.find((s) => s.kind === 3 && parentOf(s) === attempt && s.attributes['url.full'] !== undefined); // CLIENT, the undici span
    expect(outgoing).toBeDefined();
    // The target got the trace context of that request.
    expect(traceparents).toEqual([`00-${traceId}-${outgoing!.spanId}-01`]);
    // Postgres queries are spans of the same trace (the API's, through Prisma's pg pool).
    expect(ofRun.filter((s) => s.attributes['db.system'] === 'postgresql').length).toBeGreaterThan(0);
    // A secret in the node's URL (its query string here) is in no span.
    expect(JSON.stringify(spans)).not.toContain(SECRET);
    expect(outgoing!.attributes['url.full']).toBe(`${targetBase}/ok`);
    // Everything the run did is in this one trace: no span of its workflow elsewhere.
    expect(spans.filter((s) => s.name === 'RunActivity:http' && s.attributes['trellis.execution_id'] === run.id && s.traceId !== traceId)).toEqual([]);
    expect(spans.every((s) => s.service === 'trellis-api')).toBe(true);
  }, 120_000);
});
