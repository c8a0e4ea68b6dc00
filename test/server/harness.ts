import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { createTestDatabase, type TestDatabase } from '../support/database';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { WORKFLOWS_PATH, createTrellisWorker } from '../../src/worker';
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
  /** Stores a workflow (tenant "acme") as the API would; returns its version. */
  store(workflowId: string, definition: WorkflowDefinition): Promise<number>;
  httpBase: string;
  httpRequests: { method: string; url: string; body: string }[];
  start(name: string, definition: WorkflowDefinition, input?: unknown, extra?: Partial<DagWorkflowInput>): Promise<WorkflowHandle<typeof dagWorkflow>>;
  /** Waits for the run; returns its result, or for a failed run the result carried by the failure. */
  outcome(handle: WorkflowHandle<typeof dagWorkflow>, name: string): Promise<{ result?: DagRunResult; error?: WorkflowFailedError }>;
  close(): Promise<void>;
}

export async function startHarness(suite: string, options: { database?: TestDatabase } = {}): Promise<Harness | undefined> {
  const server = await connectTestServer(suite);
  if (!server) return undefined;
  process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1';
  const taskQueue = `trellis-test-${randomUUID()}`;
  const database = options.database ?? (await createTestDatabase());
  const { tenantId } = await createApiKey(database.db, 'acme');
  const registry = createNodeRegistry([probeNodeType]);
  const worker = await createTrellisWorker({
    connection: server.env.nativeConnection,
    namespace: server.env.namespace,
    taskQueue,
    registry,
    db: database.db,
  });
  const running = worker.run();
  const { httpServer, httpBase, httpRequests } = await startHttpServer();

  return {
    server,
    taskQueue,
    database,
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
