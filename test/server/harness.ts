import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect, it } from 'vitest';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { createNodeRegistry } from '../../src/activities';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createApiKey } from '../../src/services/api-keys';
import { createTestDatabase, type TestDatabase } from '../support/database';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { WORKFLOWS_PATH, createTrellisWorker, type TrellisWorkerDeps } from '../../src/worker';
import type { DagRunResult, DagWorkflowInput, dagWorkflow } from '../../src/workflows';
import { DAG_WORKFLOW_TYPE } from '../../src/contracts/dag-workflow';
import { connectTestServer, type ServerEnv } from '../support/temporal';
import { probeNodeType } from '../support/probe-node';

export const HISTORIES_DIR = path.join(__dirname, '..', 'fixtures', 'histories');
const RECORD = process.env.TRELLIS_RECORD_HISTORIES === '1';

/** A real Temporal server, one Trellis worker on a private task queue, and a local HTTP server. */
export interface Harness {
  server: ServerEnv;
  taskQueue: string;
  database: TestDatabase;
  /** An API key of tenant "acme", the tenant `store` writes under. */
  key: string;
  /** Stores a workflow (tenant "acme") as the API would; returns its version. */
  store(workflowId: string, definition: WorkflowDefinition): Promise<number>;
  /** Stores a new workflow (version 1) of a tenant, created if needed, as the API would; returns its id. */
  storeFor(tenantName: string, definition: WorkflowDefinition): Promise<string>;
  /** Starts a run of a stored workflow on the harness's task queue, as the API would (without its mirror row). */
  startStored(workflowId: string, extra?: Omit<DagWorkflowInput, 'workflowId'>): Promise<WorkflowHandle<typeof dagWorkflow>>;
  httpBase: string;
  httpRequests: { method: string; url: string; body: string }[];
  start(name: string, definition: WorkflowDefinition, input?: unknown, extra?: Partial<DagWorkflowInput>): Promise<WorkflowHandle<typeof dagWorkflow>>;
  /** Waits for the run; returns its result, or for a failed run the result carried by the failure. */
  outcome(handle: WorkflowHandle<typeof dagWorkflow>, name: string): Promise<{ result?: DagRunResult; error?: WorkflowFailedError }>;
  close(): Promise<void>;
}

export async function startHarness(
  suite: string,
  options: { database?: TestDatabase; /** Worker options beside the harness's own (e.g. fairShare). */ worker?: Pick<TrellisWorkerDeps, 'fairShare'> } = {},
): Promise<Harness | undefined> {
  const server = await connectTestServer(suite);
  if (!server) return undefined;
  process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1';
  const taskQueue = `trellis-test-${randomUUID()}`;
  const database = options.database ?? (await createTestDatabase());
  const { key, tenantId } = await createApiKey(database.db, 'acme');
  const registry = createNodeRegistry([probeNodeType]);
  const worker = await createTrellisWorker({
    connection: server.env.nativeConnection,
    namespace: server.env.namespace,
    taskQueue,
    registry,
    db: database.db,
    ...options.worker,
  });
  const running = worker.run();
  const { httpServer, httpBase, httpRequests } = await startHttpServer();

  return {
    server,
    taskQueue,
    database,
    key,
    async store(workflowId, definition) {
      const existing = await database.db.workflow.findUnique({ where: { id: workflowId } });
      const version = (existing?.latestVersion ?? 0) + 1;
      await database.db.workflow.upsert({
        where: { id: workflowId },
        create: { id: workflowId, tenantId, name: definition.name, latestVersion: version },
        update: { latestVersion: version },
      });
      await database.db.workflowVersion.create({ data: { workflowId, version, definition: definition as object } });
      return version;
    },
    async storeFor(tenantName, definition) {
      const db = database.db;
      const tenant = await db.tenant.upsert({ where: { name: tenantName }, create: { id: randomUUID(), name: tenantName }, update: {} });
      const workflowId = `wf-${randomUUID()}`;
      await db.workflow.create({ data: { id: workflowId, tenantId: tenant.id, name: definition.name, latestVersion: 1 } });
      await db.workflowVersion.create({ data: { workflowId, version: 1, definition: definition as object } });
      return workflowId;
    },
    startStored(workflowId, extra = {}) {
      return server.env.client.workflow.start<typeof dagWorkflow>(DAG_WORKFLOW_TYPE, {
        taskQueue,
        workflowId: `run-${randomUUID()}`,
        args: [{ workflowId, ...extra }],
      });
    },
    httpBase,
    httpRequests,
    async start(name, definition, input, extra = {}) {
      return server.env.client.workflow.start<typeof dagWorkflow>(DAG_WORKFLOW_TYPE, {
        taskQueue,
        workflowId: `${name}-${randomUUID()}`,
        args: [{ definition, input, ...extra }],
      });
    },
    async outcome(handle, name) {
      let outcome: { result?: DagRunResult; error?: WorkflowFailedError };
      try {
        outcome = { result: await handle.result() };
      } catch (err) {
        if (!(err instanceof WorkflowFailedError)) throw err;
        const details = (err.cause as { details?: unknown[] } | undefined)?.details;
        outcome = { error: err, result: details?.[0] as DagRunResult | undefined };
      }
      const history = await handle.fetchHistory();
      // Every run must replay deterministically against the current workflow code.
      await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, history, handle.workflowId);
      if (RECORD) {
        await fs.mkdir(HISTORIES_DIR, { recursive: true });
        await fs.writeFile(path.join(HISTORIES_DIR, `${name}.json`), historyToJSON(history));
      }
      return outcome;
    },
    async close() {
      worker.shutdown();
      await running;
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      if (!options.database) await database.drop();
      await server.env.teardown();
    },
  };
}

/** A harness with the API in front of it (app.inject, no port), as the console and clients use it. */
export interface ApiHarness extends Harness {
  app: FastifyInstance;
  /** One API request as tenant "acme". */
  call(method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown): Promise<LightMyRequestResponse>;
  /** Reads GET /executions/:id every 100 ms until `pred` holds; fails after `tries` reads. */
  untilRun<R>(id: string, pred: (run: R) => boolean, tries?: number): Promise<R>;
  /** Creates the workflow (POST /workflows) and starts a run of it (POST /executions with `body`); returns the run's id. */
  startViaApi(definition: { name: string }, body?: Record<string, unknown>): Promise<string>;
}

export async function startApiHarness(suite: string): Promise<ApiHarness | undefined> {
  const h = await startHarness(suite);
  if (!h) return undefined;
  const app = await buildApp({
    db: h.database.db,
    temporal: createTemporalGateway(h.server.env.client, h.taskQueue),
    catalog: createNodeRegistry([probeNodeType]).catalog(),
  });
  const call: ApiHarness['call'] = (method, url, payload) =>
    app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${h.key}` } });
  return {
    ...h,
    app,
    call,
    async untilRun<R>(id: string, pred: (run: R) => boolean, tries = 400) {
      for (let i = 0; i < tries; i++) {
        const run = (await call('GET', `/executions/${id}`)).json() as R;
        if (pred(run)) return run;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`execution ${id} never matched`);
    },
    async startViaApi(definition, body = {}) {
      const created = await call('POST', '/workflows', { name: definition.name, definition });
      expect(created.statusCode, created.body).toBe(201);
      const started = await call('POST', '/executions', { workflowId: created.json().id, ...body });
      expect(started.statusCode, started.body).toBe(202);
      return started.json().id as string;
    },
    async close() {
      await app.close();
      await h.close();
    },
  };
}

/**
 * `it` for a suite that needs the server: the test gets the harness, or is skipped when there
 * is none (connectTestServer said why, once, for the suite).
 */
export function serverTests<H>(harness: () => H | undefined, defaultTimeout?: number) {
  return (name: string, fn: (h: H) => Promise<void>, timeout = defaultTimeout): void => {
    it(name, async (ctx) => {
      const h = harness();
      if (!h) return ctx.skip();
      await fn(h);
    }, timeout);
  };
}

/** Calls `fn` every 100 ms until it returns a value (errors count as not yet); fails after `ms`. */
export async function eventually<T>(fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Orders API stand-in on 127.0.0.1: the http node talks to a real server. */
async function startHttpServer() {
  const httpRequests: { method: string; url: string; body: string }[] = [];
  const httpServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      httpRequests.push({ method: req.method ?? '', url: req.url ?? '', body });
      const url = new URL(req.url ?? '/', 'http://x');
      res.setHeader('content-type', 'application/json');
      if (url.pathname === '/orders') {
        const count = Number(url.searchParams.get('count') ?? 12);
        res.end(JSON.stringify(Array.from({ length: count }, (_, i) => ({ id: i + 1, total: (i + 1) * 10 }))));
      } else if (url.pathname === '/bulk' && req.method === 'POST') {
        res.statusCode = 201;
        res.end(JSON.stringify({ received: (JSON.parse(body || '[]') as unknown[]).length }));
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ error: 'not found' }));
      }
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  return { httpServer, httpBase: `http://127.0.0.1:${port}`, httpRequests };
}
