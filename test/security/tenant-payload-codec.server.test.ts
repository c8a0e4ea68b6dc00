import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Payload } from '@temporalio/common';
import type { Worker } from '@temporalio/worker';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { Keyring, generateKeyText, parseKey } from '../../src/crypto/keyring';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING, PAYLOAD_KEY_ENV, TENANT_METADATA, payloadCodec } from '../../src/crypto/payload-codec';
import { PROCESS_PAYLOAD_TENANTS, PayloadTenants } from '../../src/crypto/payload-tenants';
import { createTemporalClient } from '../../src/temporal/client';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createTrellisWorker } from '../../src/worker';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { connectTestServer, type ServerEnv } from '../support/temporal';

/*
 * Issue 22 item 3 on a real Temporal server and Postgres: with the payload codec on, every
 * payload of a run (and of its child run) in the history as the server stores it is sealed for
 * the run's tenant, and /codec/decode opens it for that tenant's API key only. The API is wired
 * as `trellis api` wires it (TRELLIS_PAYLOAD_KEY, the process's tenant map); the worker keeps a
 * map of its own, as another process would, and knows no tenant until it decodes the input the
 * API sealed.
 */
let server: ServerEnv | undefined;
let database: TestDatabase;
let app: FastifyInstance;
let worker: Worker;
let running: Promise<void>;
const keyText = generateKeyText();
const keys = new Keyring(parseKey(keyText, 'payload'));
const workerTenants = new PayloadTenants();
const previousKey = process.env[PAYLOAD_KEY_ENV];

beforeAll(async () => {
  server = await connectTestServer('tenant payload codec server test');
  if (!server) return;
  database = await createTestDatabase();
  const taskQueue = `trellis-codec-${randomUUID()}`;
  process.env[PAYLOAD_KEY_ENV] = keyText;
  const client = createTemporalClient(server.env.connection, { namespace: server.env.namespace ?? 'default' });
  worker = await createTrellisWorker({
    connection: server.env.nativeConnection,
    namespace: server.env.namespace,
    taskQueue,
    db: database.db,
    payloadCodec: new AesGcmPayloadCodec(keys, workerTenants),
  });
  running = worker.run();
  app = await buildApp({ db: database.db, temporal: createTemporalGateway(client, taskQueue), catalog: createNodeRegistry().catalog(), payloadCodec: payloadCodec() });
}, 180_000);

afterAll(async () => {
  if (worker) {
    worker.shutdown();
    await running;
  }
  await app?.close();
  await database?.drop();
  await server?.env.teardown();
  if (previousKey === undefined) delete process.env[PAYLOAD_KEY_ENV];
  else process.env[PAYLOAD_KEY_ENV] = previousKey;
});

type Found = { path: string; payload: Payload };

/** Every payload in a history as the server sends it (search attributes are not codec payloads). */
function payloadsOf(value: unknown, path = '', found: Found[] = []): Found[] {
  if (!value || typeof value !== 'object' || ArrayBuffer.isView(value)) return found;
  const record = value as Record<string, unknown>;
  if (record.metadata && typeof record.metadata === 'object' && ArrayBuffer.isView(record.data)) {
    found.push({ path, payload: record as Payload });
    return found;
  }
  for (const [key, child] of Object.entries(record)) {
    if (key === 'searchAttributes' || key === 'indexedFields') continue;
    payloadsOf(child, `${path}/${key}`, found);
  }
  return found;
}

async function historyPayloads(workflowId: string): Promise<Found[]> {
  const found: Found[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await server!.env.client.workflowService.getWorkflowExecutionHistory({ namespace: server!.env.namespace, execution: { workflowId }, nextPageToken });
    payloadsOf(page.history?.events ?? [], workflowId, found);
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return found;
}

const wire = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});
const text = (base64: string | undefined) => Buffer.from(base64 ?? '', 'base64').toString();

type Key = { key: string; tenantId: string };
const as = (key: string, method: 'GET' | 'POST', url: string, payload?: object) => app.inject({ method, url, payload, headers: { authorization: `Bearer ${key}` } });

async function finished(key: string, id: string): Promise<void> {
  let run = (await as(key, 'GET', `/executions/${id}`)).json();
  for (let i = 0; i < 300 && (run.status === 'RUNNING' || run.error?.code === 'NOT_FOUND'); i++) {
    await new Promise((r) => setTimeout(r, 100));
    run = (await as(key, 'GET', `/executions/${id}`)).json();
  }
  expect(run.status, JSON.stringify(run)).toBe('SUCCEEDED');
}

/**
 * The codec payloads of these workflows' histories: every one sealed for `owner`, none readable
 * raw, all opened by the owner's key through /codec/decode (showing `expected`), none by the
 * other tenant's. Returns how many there were.
 */
async function expectSealedFor(workflowIds: string[], owner: Key, other: Key, marker: string, expected: string[]): Promise<number> {
  const all = (await Promise.all(workflowIds.map(historyPayloads))).flat();
  // Temporal's Core writes its own bookkeeping into markers (patch ids; a local activity's seq,
  // type and times) without the codec; the local activity's result (`details/result`) is sealed.
  const coreBookkeeping = /\/markerRecordedEventAttributes\/details\/(patch-data|data)\//;
  const found = all.filter((f) => !coreBookkeeping.test(f.path));
  expect(all.filter((f) => coreBookkeeping.test(f.path)).every((f) => !Buffer.from(f.payload.data!).includes(marker))).toBe(true);
  expect(found.some((f) => f.path.includes('/markerRecordedEventAttributes/details/result/'))).toBe(true);
  for (const id of workflowIds) expect(found.some((f) => f.path.startsWith(`${id}/`))).toBe(true);
  const unsealed = found.filter((f) => Buffer.from(f.payload.metadata!.encoding ?? new Uint8Array()).toString() !== ENCRYPTED_ENCODING).map((f) => f.path);
  expect(unsealed).toEqual([]);
  const tenants = new Set(found.map((f) => Buffer.from(f.payload.metadata![TENANT_METADATA] ?? new Uint8Array()).toString()));
  expect([...tenants]).toEqual([owner.tenantId]);
  expect(found.some((f) => Buffer.from(f.payload.data!).includes(marker))).toBe(false);

  const batch = { payloads: found.map((f) => wire(f.payload)) };
  const asOwner = await as(owner.key, 'POST', '/codec/decode', batch);
  expect(asOwner.statusCode, asOwner.body).toBe(200);
  const opened: { metadata: Record<string, string>; data: string }[] = asOwner.json().payloads;
  expect(opened.filter((p) => text(p.metadata.encoding) === ENCRYPTED_ENCODING)).toEqual([]);
  for (const value of expected) expect(opened.some((p) => text(p.data).includes(value)), value).toBe(true);
  const asOther = await as(other.key, 'POST', '/codec/decode', batch);
  expect(asOther.statusCode, asOther.body).toBe(200);
  expect(asOther.json()).toEqual(batch);
  return found.length;
}

describe('the payload codec on a real server is per tenant', () => {
  it("seals every payload of a run and its child run for the run's tenant; only that tenant's key opens them", async (ctx) => {
    if (!server) return ctx.skip();
    const acme = await createApiKey(database.db, 'acme');
    const globex = await createApiKey(database.db, 'globex');
    const child = await as(acme.key, 'POST', '/workflows', { name: 'child', definition: { name: 'child', nodes: [{ id: 'echo', type: 'transform', config: { expression: "input.marker & '-child'" } }] } });
    expect(child.statusCode, child.body).toBe(201);
    const definition = {
      name: 'parent',
      nodes: [
        { id: 'first', type: 'transform', config: { expression: "input.marker & '-parent'" } },
        { id: 'call', type: 'subworkflow', config: { workflowId: child.json().id, input: { marker: '{{ input.marker }}' } } },
      ],
      edges: [{ from: 'first', to: 'call' }],
    };
    const parent = await as(acme.key, 'POST', '/workflows', { name: 'parent', definition });
    expect(parent.statusCode, parent.body).toBe(201);
    const marker = `ord_${randomUUID()}`;
    const started = await as(acme.key, 'POST', '/executions', { workflowId: parent.json().id, input: { marker } });
    expect(started.statusCode, started.body).toBe(202);
    const id: string = started.json().id;
    await finished(acme.key, id);

    const count = await expectSealedFor([id, `${id}.call`], acme, globex, marker, [`${marker}-parent`, `${marker}-child`]);
    expect(count).toBeGreaterThan(10);
    // The worker learned the tenant from the input the API sealed, without a query of its own.
    expect(workerTenants.peek(`${id}.call`)).toBe(acme.tenantId);
    expect(PROCESS_PAYLOAD_TENANTS.peek(id)).toBe(acme.tenantId);
  }, 120_000);

  it("seals a scheduled run (its id is Temporal's) for the schedule's tenant", async (ctx) => {
    if (!server) return ctx.skip();
    const globex = await createApiKey(database.db, 'globex');
    const acme = await createApiKey(database.db, 'acme');
    const created = await as(globex.key, 'POST', '/workflows', { name: 'nightly', definition: { name: 'nightly', nodes: [{ id: 'echo', type: 'transform', config: { expression: "input.marker & '-nightly'" } }] } });
    expect(created.statusCode, created.body).toBe(201);
    const marker = `sch_marker_${randomUUID()}`;
    const schedule = await as(globex.key, 'POST', `/workflows/${created.json().id}/schedules`, { cron: '0 0 1 1 *', paused: true, input: { marker } });
    expect(schedule.statusCode, schedule.body).toBe(201);
    const triggered = await as(globex.key, 'POST', `/schedules/${schedule.json().id}/trigger`);
    expect(triggered.statusCode, triggered.body).toBe(202);
    const id: string = triggered.json().executionId;
    expect(id).toMatch(new RegExp(`^ex_${schedule.json().id}-`));
    await finished(globex.key, id);
    await expectSealedFor([id], globex, acme, marker, [`${marker}-nightly`]);
  }, 120_000);
});
