import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '@temporalio/worker';
import { createTrellisWorker } from '../../src/worker';
import { createLogger } from '../../src/observability/logger';
import { installWorkerTelemetry, type WorkerTelemetry } from '../../src/observability/worker-telemetry';
import { DAG_WORKFLOW_TYPE } from '../../src/contracts/dag-workflow';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { connectTestServer, type ServerEnv } from '../support/temporal';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createApiKey } from '../../src/services/api-keys';

// The worker process's telemetry as `trellis worker` installs it: pino lines (captured here) and
// the Prometheus endpoint, scraped after real runs on the shared Temporal server. Temporal's
// Runtime is per process: it is installed before connectTestServer creates one (vitest runs
// each file in a process of its own).
const SECRET = 'sk-live-0123456789abcdef';
const lines: string[] = [];
const destination = new Writable({
  write(chunk: Buffer, _enc, done) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  },
});

let server: ServerEnv | undefined;
let telemetry: WorkerTelemetry;
let worker: Worker;
let running: Promise<void>;
let target: http.Server;
let database: TestDatabase;
let tenantId: string;
let base: string;
const taskQueue = `trellis-observability-${randomUUID()}`;

beforeAll(async () => {
  const logger = createLogger({ name: 'trellis-worker', level: 'debug', destination });
  telemetry = await installWorkerTelemetry({ logger, metricsPort: 0, metricsHost: '127.0.0.1' });
  server = await connectTestServer('observability server tests');
  if (!server) return;
  process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1';
  database = await createTestDatabase();
  ({ tenantId } = await createApiKey(database.db, 'acme'));
  target = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if ((req.url ?? '').startsWith('/ok')) res.end('{"ok":true}');
    else res.writeHead(503).end('{"error":"down"}');
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
  worker = await createTrellisWorker({ connection: server.env.nativeConnection, namespace: server.env.namespace, taskQueue, metrics: telemetry.metrics, logger, payloadCodec: null, db: database.db });
  running = worker.run();
}, 120_000);

afterAll(async () => {
  if (server) {
    worker.shutdown();
    await running;
    await new Promise<void>((resolve) => target.close(() => resolve()));
    await database.drop();
    await server.env.teardown();
  }
  await telemetry?.close();
});

/** A stored workflow (tenant acme) started by its id, as the Temporal UI or CLI would: the run is mirrored and has a tenant. */
async function run(definition: WorkflowDefinition): Promise<string> {
  const stored = `wf-${randomUUID()}`;
  await database.db.workflow.create({ data: { id: stored, tenantId, name: definition.name, latestVersion: 1 } });
  await database.db.workflowVersion.create({ data: { workflowId: stored, version: 1, definition: definition as object } });
  const workflowId = `observability-${randomUUID()}`;
  const handle = await server!.env.client.workflow.start(DAG_WORKFLOW_TYPE, { taskQueue, workflowId, args: [{ workflowId: stored }] });
  await handle.result().catch(() => undefined); // the first run fails on purpose
  return workflowId;
}

describe('worker logs and metrics', () => {
  it('logs JSON lines with the run context, never the credential, and serves the metrics of the run', async (ctx) => {
    if (!server) return ctx.skip();
    const definition: WorkflowDefinition = {
      name: 'observability',
      nodes: [
        { id: 'fetch', type: 'http', config: { method: 'GET', url: `${base}/ok?api_key=${SECRET}`, headers: { authorization: `Bearer ${SECRET}` } } },
        { id: 'down', type: 'http', config: { method: 'GET', url: `${base}/down?token=${SECRET}` }, retry: { maximumAttempts: 2, initialInterval: '100ms' } },
      ],
      edges: [{ from: 'fetch', to: 'down' }],
    };
    const executionId = await run(definition);

    // Every line is JSON; the node attempts' lines carry executionId, nodeId, tenantId and attempt.
    const ofRun = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l.executionId === executionId);
    const failedLines = () => ofRun().filter((l) => l.msg === 'Activity failed' && l.nodeId === 'down');
    // The result can reach the client a moment before the worker's line about the last attempt
    // is written (seen under load: the run's failure 25 ms before attempt 2's lines): wait for it.
    await expect.poll(() => failedLines().map((l) => l.attempt), { timeout: 10_000 }).toEqual([1, 2]);
    const failed = failedLines();
    for (const line of failed) expect(line).toMatchObject({ level: 'warn', name: 'trellis-worker', tenantId, activityType: 'http' });
    expect(ofRun().find((l) => l.msg === 'Activity completed' && l.nodeId === 'fetch')).toMatchObject({ tenantId, attempt: 1 });
    for (const line of lines) expect(line).not.toContain(SECRET);

    const response = await fetch(`http://127.0.0.1:${telemetry.server!.port}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain('trellis_worker_node_attempts_total{type="http",outcome="succeeded"} 1');
    expect(text).toContain('trellis_worker_node_attempts_total{type="http",outcome="failed"} 2');
    expect(text).toMatch(/trellis_worker_node_failures_total\{type="http",error_type="[A-Za-z]+"\} 2/);
    expect(text).toMatch(/trellis_worker_node_attempt_duration_seconds_count\{type="http",outcome="succeeded"\} 1/);
    // The SDK's own worker metrics, from its exporter, in the same scrape.
    expect(text).toMatch(/^temporal_\w+/m);
    expect(text).toMatch(/temporal_activity_execution_latency_seconds_bucket\{.*activity_type="http"/);
    expect(text).toMatch(/temporal_workflow_(completed|failed)_total\{.*workflow_type="dagWorkflow"/);
  }, 120_000);

  it('counts map items', async (ctx) => {
    if (!server) return ctx.skip();
    const definition: WorkflowDefinition = {
      name: 'observability-map',
      nodes: [{ id: 'each', type: 'map', config: { items: '[1, 2, 3]', body: { nodes: [{ id: 'get', type: 'http', config: { url: `${base}/ok` } }], edges: [] } } }],
    };
    await run(definition);
    const text = await (await fetch(`http://127.0.0.1:${telemetry.server!.port}/metrics`)).text();
    expect(text).toMatch(/trellis_worker_map_items_total\{status="SUCCEEDED"\} 3/);
  }, 120_000);
});
