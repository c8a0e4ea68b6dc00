import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { Keyring, generateKeyText, parseKey } from '../../src/crypto/keyring';
import { AesGcmPayloadCodec, ENCODED_FAILURE_CONVERTER_PATH } from '../../src/crypto/payload-codec';
import { WORKFLOWS_PATH, createTrellisWorker } from '../../src/worker';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { connectTestServer, type ServerEnv } from '../support/temporal';

/**
 * DESIGN.md §1 "Secrets", proved end to end on a real Temporal server and a real Postgres:
 * secrets reach the target, and no form of any of them is in the raw history bytes, any table,
 * any API answer or any log line. With the payload codec on, plain input is not readable either.
 */
const tag = randomBytes(6).toString('hex');
const SECRETS = {
  TOKEN: `tok_${tag}/+=Bearer`,
  API_KEY: `key ${tag}&x=1`,
  USER: `svc_${tag}`,
  PASSWORD: `pw$${tag}!`,
};
const MARKER = `ordinary-input-${tag}`;

/** Every way a secret could leak: as is, base64 (also URL-safe, unpadded), URL- and form-encoded, and the Basic header. */
function forms(): { label: string; text: string }[] {
  const out = Object.entries(SECRETS).flatMap(([name, v]) => [
    { label: `${name} plain`, text: v },
    { label: `${name} base64`, text: Buffer.from(v).toString('base64').replace(/=+$/, '') },
    { label: `${name} base64url`, text: Buffer.from(v).toString('base64url') },
    { label: `${name} url-encoded`, text: encodeURIComponent(v) },
    { label: `${name} form-encoded`, text: new URLSearchParams({ v }).toString().slice(2) },
  ]);
  out.push({ label: 'basic auth', text: Buffer.from(`${SECRETS.USER}:${SECRETS.PASSWORD}`).toString('base64') });
  return out.filter((f, i) => out.findIndex((g) => g.text === f.text) === i);
}
const hits = (haystack: Buffer | string, label: string) =>
  forms()
    .filter((f) => (typeof haystack === 'string' ? haystack.includes(f.text) : haystack.includes(Buffer.from(f.text))))
    .map((f) => `${label}: ${f.label}`);

// -- log capture: the SDK runtime logger (worker), the API's logger, and the console ------------------
const logLines: string[] = [];
const workerLogger = new DefaultLogger('DEBUG', (entry) => logLines.push(`${entry.message} ${JSON.stringify(entry.meta ?? {})}`));
try {
  Runtime.install({ logger: workerLogger });
} catch {
  // installed already: the assertion on captured worker lines below then fails loudly
}
const apiLog = new Writable({
  write(chunk: Buffer, _enc, done) {
    logLines.push(chunk.toString());
    done();
  },
});
function show(a: unknown): string {
  if (a instanceof Error) return `${a.message}\n${a.stack}`;
  if (typeof a === 'string') return a;
  try {
    return JSON.stringify(a);
  } catch {
    return String(a);
  }
}
for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  const original = console[method].bind(console);
  console[method] = (...args: unknown[]) => {
    logLines.push(args.map(show).join(' '));
    original(...args);
  };
}

// -- the target: checks it received every credential, and echoes them back to tempt a leak ------------
const received: { path: string; ok: boolean }[] = [];
async function startTarget() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization ?? '';
    let ok = false;
    if (url.pathname === '/check') ok = auth === `Bearer ${SECRETS.TOKEN}` && url.searchParams.get('api_key') === SECRETS.API_KEY;
    if (url.pathname === '/basic') ok = auth === `Basic ${Buffer.from(`${SECRETS.USER}:${SECRETS.PASSWORD}`).toString('base64')}`;
    received.push({ path: url.pathname, ok });
    // Echo back what arrived, re-encoded: base64 of the bearer token and of the basic
    // credentials, the API key URL-encoded, the x-token header as is.
    const bearer = auth.replace(/^Bearer /, '');
    const basic = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : '';
    const echo = {
      auth,
      query: url.search,
      bearer64: Buffer.from(bearer).toString('base64'),
      basic,
      password: encodeURIComponent(basic.split(':')[1] ?? ''),
      apiKey: encodeURIComponent(url.searchParams.get('api_key') ?? url.searchParams.get('k') ?? ''),
      xToken: req.headers['x-token'] ?? null,
    };
    res.writeHead(url.pathname === '/deny' ? 403 : ok ? 200 : 401, { 'content-type': 'application/json', 'x-seen': encodeURIComponent(auth) });
    res.end(JSON.stringify(echo));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const definition = {
  name: 'secret-proof',
  nodes: [
    {
      id: 'call',
      type: 'http',
      config: {
        url: 'http://{{ input.host }}/check',
        headers: { authorization: 'Bearer {{ secrets.TOKEN }}' },
        query: { api_key: '{{ secrets.API_KEY }}', marker: '{{ input.marker }}' },
      },
    },
    { id: 'basic', type: 'http', config: { url: 'http://{{ secrets.USER }}:{{ secrets.PASSWORD }}@{{ input.host }}/basic' } },
    {
      id: 'deny',
      type: 'http',
      onError: 'continue',
      retry: { maximumAttempts: 1 },
      config: { method: 'POST', url: 'http://{{ input.host }}/deny?k={{ secrets.API_KEY }}', headers: { 'x-token': '{{ secrets.TOKEN }}' }, body: { m: '{{ input.marker }}' } },
    },
    { id: 'after', type: 'transform', trigger: 'all_done', config: { expression: '{ "call": nodes.call.output.body, "deny": nodes.deny.error }' } },
  ],
  edges: [
    { from: 'call', to: 'after' },
    { from: 'basic', to: 'after' },
    { from: 'deny', to: 'after' },
  ],
};

interface Stack {
  app: FastifyInstance;
  worker: Worker;
  running: Promise<void>;
  client: Client;
  key: string;
}

let server: ServerEnv | undefined;
let database: TestDatabase;
let target: Awaited<ReturnType<typeof startTarget>>;
const masterKeys = new Keyring(parseKey(generateKeyText(), 'master'));
const codec = new AesGcmPayloadCodec(new Keyring(parseKey(generateKeyText(), 'payload')));
const stacks: Stack[] = [];
const previousAllow = process.env.TRELLIS_HTTP_ALLOW_PRIVATE;

/** API + worker on their own task queue, with or without the payload codec. */
async function startStack(tenant: string, withCodec: boolean): Promise<Stack> {
  const taskQueue = `trellis-secrets-${randomUUID()}`;
  const client = new Client({
    connection: server!.env.connection,
    namespace: server!.env.namespace,
    ...(withCodec && { dataConverter: { payloadCodecs: [codec], failureConverterPath: ENCODED_FAILURE_CONVERTER_PATH } }),
  });
  const worker = await createTrellisWorker({
    connection: server!.env.nativeConnection,
    namespace: server!.env.namespace,
    taskQueue,
    db: database.db,
    masterKeys,
    payloadCodec: withCodec ? codec : null,
  });
  const running = worker.run();
  const app = await buildApp({
    db: database.db,
    temporal: createTemporalGateway(client, taskQueue),
    catalog: createNodeRegistry().catalog(),
    masterKeys,
    ...(withCodec && { payloadCodec: codec }),
    logger: { level: 'trace', stream: apiLog },
  });
  const { key } = await createApiKey(database.db, tenant);
  const stack = { app, worker, running, client, key };
  stacks.push(stack);
  return stack;
}

const call = (s: Stack, method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) =>
  s.app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${s.key}` } });

/** Sets the secrets, stores the workflow, runs it to the end; returns the run and every API answer. */
async function runProof(s: Stack): Promise<{ id: string; run: { status: string; nodes: { nodeId: string; status: string; output: unknown; error: unknown }[] }; answers: string[] }> {
  const answers: string[] = [];
  for (const [name, value] of Object.entries(SECRETS)) {
    const res = await call(s, 'PUT', `/secrets/${name}`, { value });
    expect(res.statusCode, res.body).toBe(200);
    answers.push(res.body);
  }
  const created = await call(s, 'POST', '/workflows', { name: 'secret-proof', definition });
  expect(created.statusCode, created.body).toBe(201);
  answers.push(created.body);
  const workflowId = created.json().id as string;
  const started = await call(s, 'POST', '/executions', { workflowId, input: { host: target.host, marker: MARKER } });
  expect(started.statusCode, started.body).toBe(202);
  const id = started.json().id as string;
  await s.client.workflow.getHandle(id).result().catch(() => undefined);
  let run = (await call(s, 'GET', `/executions/${id}`)).json();
  for (let i = 0; i < 100 && run.status === 'RUNNING'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    run = (await call(s, 'GET', `/executions/${id}`)).json();
  }
  for (const url of [`/executions/${id}`, `/workflows/${workflowId}`, `/workflows/${workflowId}/versions/1`, '/secrets', '/executions']) {
    answers.push((await call(s, 'GET', url)).body);
  }
  return { id, run, answers };
}

/** The history exactly as the server sends it: protobuf bytes of every page. */
async function rawHistory(id: string): Promise<Buffer> {
  const pages: Buffer[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await server!.env.client.workflowService.getWorkflowExecutionHistory({
      namespace: server!.env.namespace,
      execution: { workflowId: id },
      nextPageToken,
    });
    pages.push(Buffer.from(temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryResponse.encode(page).finish()));
    nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return Buffer.concat(pages);
}

/** Every row of every table in the Trellis database, as Postgres renders it. */
async function dumpDatabase(): Promise<string> {
  const tables = await database.db.$queryRawUnsafe<{ table_name: string }[]>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
  );
  expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['executions', 'node_runs', 'workflow_versions', 'secrets', 'output_blobs']));
  let dump = '';
  for (const { table_name } of tables) {
    const rows = await database.db.$queryRawUnsafe<{ row: string }[]>(`SELECT row_to_json(t)::text AS row FROM "${table_name}" t`);
    dump += rows.map((r) => `${table_name} ${r.row}`).join('\n');
  }
  return dump;
}

beforeAll(async () => {
  server = await connectTestServer('secrets proof server test');
  if (!server) return;
  process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1';
  database = await createTestDatabase();
  target = await startTarget();
});

afterAll(async () => {
  for (const s of stacks) {
    s.worker.shutdown();
    await s.running;
    await s.app.close();
  }
  // Without a server the target never started: waiting for its close would never end.
  if (target) await new Promise((resolve) => target!.server.close(resolve));
  await database?.drop();
  await server?.env.teardown();
  if (previousAllow === undefined) delete process.env.TRELLIS_HTTP_ALLOW_PRIVATE;
  else process.env.TRELLIS_HTTP_ALLOW_PRIVATE = previousAllow;
});

describe('secrets never land in history, the mirror, the API or the logs', () => {
  it('delivers secrets in a header, a query parameter and basic auth, and leaves no trace of them', async (ctx) => {
    if (!server) return ctx.skip();
    const s = await startStack('proof', false);
    const { id, run, answers } = await runProof(s);
    const byId = Object.fromEntries(run.nodes.map((n) => [n.nodeId, n]));
    // The target accepted each credential (it answers 401 otherwise and the node would fail).
    expect(byId.call?.status, JSON.stringify(byId.call)).toBe('SUCCEEDED');
    expect(byId.basic?.status, JSON.stringify(byId.basic)).toBe('SUCCEEDED');
    expect(received.filter((r) => r.path !== '/deny').every((r) => r.ok)).toBe(true);
    expect(byId.deny?.status).toBe('FAILED');
    expect(JSON.stringify(byId.deny?.error)).toContain('[secret:');
    expect(JSON.stringify(byId.after?.output)).toContain('[secret:TOKEN]');

    const history = await rawHistory(id);
    // The scan can see: ordinary input and a plain failure message are in the raw bytes.
    expect(history.includes(Buffer.from(MARKER))).toBe(true);
    expect(history.includes(Buffer.from('returned HTTP 403'))).toBe(true);
    expect(history.includes(Buffer.from('{{ secrets.TOKEN }}'))).toBe(true);

    // The capture saw both processes' logs: the SDK's worker lines and the API's request lines.
    expect(logLines.some((l) => l.includes('Activity failed')), 'worker log captured').toBe(true);
    expect(logLines.some((l) => l.includes('"url":"/executions')), 'API log captured').toBe(true);
    const leaks = [
      ...hits(history, 'history'),
      ...hits(await dumpDatabase(), 'postgres'),
      ...answers.flatMap((a, i) => hits(a, `api answer ${i}`)),
      ...hits(logLines.join('\n'), 'logs'),
    ];
    expect(leaks).toEqual([]);
  });

  it('with the payload codec on, ordinary input and failure messages are unreadable in the raw history too', async (ctx) => {
    if (!server) return ctx.skip();
    const s = await startStack('proof-codec', true);
    const { id, run, answers } = await runProof(s);
    expect(run.nodes.find((n) => n.nodeId === 'call')?.status).toBe('SUCCEEDED');
    expect(run.nodes.find((n) => n.nodeId === 'deny')?.status).toBe('FAILED');

    const history = await rawHistory(id);
    expect(history.includes(Buffer.from(MARKER))).toBe(false);
    expect(history.includes(Buffer.from('returned HTTP 403'))).toBe(false);
    expect(history.includes(Buffer.from('secret-proof'))).toBe(false);
    expect([...hits(history, 'history'), ...answers.flatMap((a, i) => hits(a, `api answer ${i}`)), ...hits(logLines.join('\n'), 'logs')]).toEqual([]);

    // Schedules go through the same client: their action's input is sealed in Temporal too.
    const workflowId = (JSON.parse(answers.find((a) => a.includes('"definition"'))!) as { id: string }).id;
    const schedule = await call(s, 'POST', `/workflows/${workflowId}/schedules`, { cron: '0 0 1 1 *', paused: true, input: { marker: MARKER } });
    expect(schedule.statusCode, schedule.body).toBe(201);
    const described = await server!.env.client.workflowService.describeSchedule({ namespace: server!.env.namespace, scheduleId: schedule.json().id });
    const rawSchedule = Buffer.from(temporal.api.workflowservice.v1.DescribeScheduleResponse.encode(described).finish());
    expect(rawSchedule.includes(Buffer.from('dagWorkflow'))).toBe(true); // the scan sees plain fields
    expect(rawSchedule.includes(Buffer.from(MARKER))).toBe(false);
    const viaClient = await s.client.schedule.getHandle(schedule.json().id).describe();
    expect(JSON.stringify(viaClient.action)).toContain(MARKER);
    await s.client.schedule.getHandle(schedule.json().id).delete();

    // Decoded through the client's codec the run is whole, and it replays without a codec
    // once decoded (what the replay test does with recorded histories).
    const decoded = await s.client.workflow.getHandle(id).fetchHistory();
    expect(JSON.stringify(decoded)).not.toContain(MARKER); // fetchHistory keeps payloads encoded
    const plain = await Worker.runReplayHistory(
      { workflowsPath: WORKFLOWS_PATH, dataConverter: { payloadCodecs: [codec], failureConverterPath: ENCODED_FAILURE_CONVERTER_PATH } },
      decoded,
      id,
    ).then(
      () => 'replayed',
      (err: unknown) => String(err),
    );
    expect(plain).toBe('replayed');
  });
});
