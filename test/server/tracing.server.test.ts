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
import { createTemporalGateway, type TemporalGateway } from '../../src/temporal/gateway';
import { createSchedule, deleteSchedule, triggerSchedule } from '../../src/services/schedules';
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
let gateway: TemporalGateway;
let target: http.Server;
let targetBase: string;
const traceparents: string[] = [];
/** Every request the target got, by path: the trace-context headers it carried. */
const received: { path: string; traceparent: string | string[] | undefined; tracestate: string | string[] | undefined }[] = [];
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
    const path = (req.url ?? '').replace(/\?.*$/, '');
    if (path === '/ok') traceparents.push(String(req.headers.traceparent ?? ''));
    received.push({ path, traceparent: req.headers.traceparent, tracestate: req.headers.tracestate });
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', () => resolve()));
  targetBase = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  const client = createTemporalClient(server.env.connection, { namespace: server.env.namespace ?? 'default' });
  const registry = createNodeRegistry();
  gateway = createTemporalGateway(client, taskQueue);
  app = await buildApp({ db: database.db, temporal: gateway, catalog: registry.catalog(), codecCorsOrigins: [] });
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

  /** The run's spans: its RunWorkflow span's trace, which must hold every span of the run. */
  function traceOfRun(executionId: string) {
    const spans = receiver.spans();
    const attempts = spans.filter((s) => s.name.startsWith('RunActivity:') && s.attributes['trellis.execution_id'] === executionId);
    expect(attempts.length, `spans: ${spans.map((s) => s.name).join(', ')}`).toBeGreaterThan(0);
    const traceIds = new Set(attempts.map((s) => s.traceId));
    expect([...traceIds]).toHaveLength(1); // every node attempt of the run in one trace
    const [traceId] = traceIds;
    const ofRun = spans.filter((s) => s.traceId === traceId);
    const byId = new Map(ofRun.map((s) => [s.spanId, s]));
    return { traceId: traceId!, ofRun, parentOf: (span: ReceivedSpan) => (span.parentSpanId ? byId.get(span.parentSpanId) : undefined) };
  }

  it('gives a webhook-started run one trace: the hook request, the start, the workflow, the node attempts', async (ctx) => {
    if (!server) return ctx.skip();
    const definition = { name: 'hooked', nodes: [{ id: 'call', type: 'http', config: { method: 'GET', url: `${targetBase}/hooked` } }] };
    const workflow = await api('POST', '/workflows', { name: 'hooked', definition });
    const { url } = await api('POST', `/workflows/${String(workflow.id)}/hook-token`);
    const response = await fetch(`${apiBase}${String(url)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
    expect(response.status).toBe(202);
    const run = (await response.json()) as { id: string };
    await server.env.client.workflow.getHandle(run.id).result();
    await tracing.flush();

    const { traceId, ofRun, parentOf } = traceOfRun(run.id);
    const request = ofRun.find((s) => s.kind === 2 && s.name.startsWith('POST /hooks/'));
    expect(request, `spans: ${ofRun.map((s) => s.name).join(', ')}`).toBeDefined();
    expect(request!.parentSpanId).toBeUndefined(); // the trace's root
    expect(JSON.stringify(request)).not.toContain(String(url).split('/').at(-1)); // the hook token is in no span
    const runWorkflow = ofRun.find((s) => s.name === 'RunWorkflow:dagWorkflow');
    expect(parentOf(runWorkflow!)?.name).toBe('StartWorkflow:dagWorkflow');
    const attempt = ofRun.find((s) => s.name === 'RunActivity:http' && s.attributes['trellis.node_id'] === 'call');
    expect(parentOf(attempt!)?.name).toBe('StartActivity:http');
    expect(parentOf(parentOf(attempt!)!)).toBe(runWorkflow);
    expect(received.filter((r) => r.path === '/hooked').map((r) => String(r.traceparent).split('-')[1])).toEqual([traceId]);
  }, 120_000);

  it('gives a schedule-started run one trace, rooted at its workflow (Temporal starts it: no caller)', async (ctx) => {
    if (!server) return ctx.skip();
    const definition = { name: 'scheduled', nodes: [{ id: 'call', type: 'http', config: { method: 'GET', url: `${targetBase}/scheduled` } }] };
    const workflow = await api('POST', '/workflows', { name: 'scheduled', definition });
    const { tenantId } = await database.db.workflow.findUniqueOrThrow({ where: { id: String(workflow.id) } });
    const deps = { db: database.db, temporal: gateway };
    const schedule = await createSchedule(deps, tenantId, String(workflow.id), { cron: '0 0 1 1 *', timezone: 'UTC', input: {}, overlap: 'buffer_one', catchupWindow: '5m', paused: true });
    try {
      const { executionId } = await triggerSchedule(deps, tenantId, schedule.id);
      let runId: string | undefined;
      for (let i = 0; i < 150 && !runId; i++) {
        runId = (await database.db.execution.findFirst({ where: { scheduleId: schedule.id } }))?.id;
        if (!runId) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(runId).toBeDefined();
      if (executionId) expect(executionId).toBe(runId);
      await server.env.client.workflow.getHandle(runId!).result();
      await tracing.flush();

      const { traceId, ofRun, parentOf } = traceOfRun(runId!);
      const runWorkflow = ofRun.filter((s) => s.name === 'RunWorkflow:dagWorkflow');
      expect(runWorkflow).toHaveLength(1);
      expect(runWorkflow[0]!.parentSpanId).toBeUndefined(); // the root: a schedule's start has no span of ours
      const attempt = ofRun.find((s) => s.name === 'RunActivity:http' && s.attributes['trellis.execution_id'] === runId);
      expect(parentOf(parentOf(attempt!)!)).toBe(runWorkflow[0]);
      expect(received.filter((r) => r.path === '/scheduled').map((r) => String(r.traceparent).split('-')[1])).toEqual([traceId]);
    } finally {
      await deleteSchedule(deps, tenantId, schedule.id);
    }
  }, 120_000);

  it("sends the run's traceparent instead of one the node's headers set, and links the tenant's on the request span", async (ctx) => {
    if (!server) return ctx.skip();
    const tenantTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const tenantSpan = '00f067aa0ba902b7';
    const definition = {
      name: 'own-traceparent',
      nodes: [
        {
          id: 'call',
          type: 'http',
          config: { method: 'GET', url: `${targetBase}/own-traceparent`, headers: { TraceParent: `00-${tenantTrace}-${tenantSpan}-01`, tracestate: 'tenant=abc' } },
        },
      ],
    };
    const workflow = await api('POST', '/workflows', { name: 'own-traceparent', definition });
    const run = await api('POST', '/executions', { workflowId: workflow.id, input: {} });
    await server.env.client.workflow.getHandle(String(run.id)).result();
    await tracing.flush();

    const { traceId, ofRun, parentOf } = traceOfRun(String(run.id));
    const attempt = ofRun.find((s) => s.name === 'RunActivity:http' && s.attributes['trellis.execution_id'] === run.id);
    const outgoing = ofRun.find((s) => s.kind === 3 && parentOf(s) === attempt && s.attributes['url.full'] !== undefined);
    expect(outgoing).toBeDefined();
    // One trace context reached the target, the run's: not the tenant's, not both.
    const got = received.filter((r) => r.path === '/own-traceparent');
    expect(got).toEqual([{ path: '/own-traceparent', traceparent: `00-${traceId}-${outgoing!.spanId}-01`, tracestate: undefined }]);
    // Not dropped silently: the request span says so and links the tenant's trace.
    expect(outgoing!.attributes['trellis.http.trace_context_replaced']).toBe(true);
    expect(outgoing!.links).toEqual([{ traceId: tenantTrace, spanId: tenantSpan, attributes: { 'trellis.link': 'node header traceparent' } }]);
  }, 120_000);
});
