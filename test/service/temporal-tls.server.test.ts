import fs from 'node:fs';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/services/api-keys';
import { trellis } from '../support/cli';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, prebuiltWorkflowBundle, spawnUntil, waitFor, type FaultProcess } from '../support/fault-process';
import { connectTestServer, type ServerEnv } from '../support/temporal';
import { tearDownDeployment } from '../support/deployment-teardown';
import { OPENSSL, createTestPki, startTlsFront, type TestPki, type TlsFront } from '../support/tls-front';

/*
 * DESIGN §7, Temporal through the client environment configuration: a TLS front written here
 * (Node's http2 secure server: mTLS against a test CA and an API key, each gRPC stream piped to
 * the plain dev server) stands for Temporal Cloud or any mTLS cluster. `trellis api` and
 * `trellis worker`, configured only through TEMPORAL_* variables, run a workflow through it;
 * a worker with a wrong or missing client certificate or API key stops at start saying so, and
 * the API (which starts without Temporal, DESIGN §7) says why in /readyz.
 */
const BIN = path.join(__dirname, '..', '..', 'bin', 'trellis.js');
const haveOpenssl = fs.existsSync(OPENSSL);
if (!haveOpenssl) console.warn(`\n!!! SKIPPED the Temporal TLS tests: ${OPENSSL} not installed (it writes the test certificates)\n`);

const API_KEY = `temporal-key-${randomBytes(8).toString('hex')}`;
const taskQueue = `trellis-tls-${randomUUID()}`;
let server: ServerEnv | undefined;
let database: TestDatabase | undefined;
let pki: TestPki | undefined;
let front: TlsFront | undefined;
let bundle: string | undefined;
const processes: FaultProcess[] = [];
const started: string[] = [];

beforeAll(async () => {
  if (!haveOpenssl) return;
  server = await connectTestServer('Temporal over TLS');
  if (!server) return;
  pki = createTestPki();
  front = await startTlsFront(pki, API_KEY, server.env.address);
  database = await createTestDatabase();
  bundle = await prebuiltWorkflowBundle();
}, 180_000);

afterAll(async () => {
  await tearDownDeployment({ processes, server, started, taskQueue, bundle, database, fronts: [() => front?.close(), () => pki?.remove()] });
}, 60_000);

/** A Trellis process's view of the secured cluster: TEMPORAL_* only (no code-level options). */
function temporalEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    TEMPORAL_ADDRESS: front!.address,
    TEMPORAL_NAMESPACE: server!.env.namespace ?? 'default',
    TEMPORAL_API_KEY: API_KEY,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: pki!.caCert,
    TEMPORAL_TLS_SERVER_NAME: 'localhost',
    TEMPORAL_TLS_CLIENT_CERT_PATH: pki!.clientCert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: pki!.clientKey,
    TRELLIS_TASK_QUEUE: taskQueue,
    DATABASE_URL: database!.url,
    TRELLIS_WORKFLOW_BUNDLE: bundle!,
    LOG_LEVEL: 'info',
    LOG_FORMAT: 'json',
    ...overrides,
  };
}

const defined = (env: Record<string, string | undefined>) => Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;

async function startApi(env: Record<string, string | undefined>): Promise<{ api: FaultProcess; base: string }> {
  const port = await freePort();
  const api = await spawnUntil('trellis api', [BIN, 'api'], defined({ ...env, PORT: String(port) }), (output) => output.includes('Server listening at'), 60_000);
  processes.push(api);
  return { api, base: `http://127.0.0.1:${port}` };
}

describe.skipIf(!haveOpenssl)('Temporal behind mTLS and an API key', () => {
  it('trellis api and trellis worker, configured by TEMPORAL_* alone, run a workflow through the TLS front', async (ctx) => {
    if (!server || !database) return ctx.skip();
    const { key } = await createApiKey(database.db, 'acme');
    const worker = await spawnUntil('trellis worker', [BIN, 'worker'], defined(temporalEnv()), (output) => output.includes('"worker started"'), 120_000);
    processes.push(worker);
    const { base } = await startApi(temporalEnv());
    const call = async (method: string, url: string, body?: unknown) => {
      const res = await fetch(`${base}${url}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };

    expect(await call('GET', '/readyz')).toMatchObject({ status: 200, json: { checks: { temporal: 'ok' } } });
    const definition = { name: 'secured', nodes: [{ id: 'shape', type: 'transform', config: { expression: '{ "tripled": input.n * 3 }' } }] };
    const workflow = await call('POST', '/workflows', { name: 'secured', definition });
    expect(workflow.status, JSON.stringify(workflow.json)).toBe(201);
    const run = await call('POST', '/executions', { workflowId: workflow.json.id, input: { n: 14 } });
    expect(run.status, JSON.stringify(run.json)).toBe(202);
    started.push(String(run.json.id));
    const done = await waitFor(
      'the run to succeed',
      async () => {
        const execution = await call('GET', `/executions/${String(run.json.id)}`);
        return execution.json.status === 'SUCCEEDED' && execution.json;
      },
      60_000,
      250,
    );
    expect(done.output).toMatchObject({ shape: { tripled: 42 } });

    // Every call went through the front, authenticated: the API's start, the worker's polls and answers.
    const service = '/temporal.api.workflowservice.v1.WorkflowService/';
    for (const method of ['StartWorkflowExecution', 'PollWorkflowTaskQueue', 'RespondWorkflowTaskCompleted', 'CreateSchedule']) {
      expect(front!.forwarded, method).toContain(`${service}${method}`);
    }
    expect(front!.refused).toEqual([]);
    expect(front!.handshakeErrors).toEqual([]);
  }, 240_000);

  it('a wrong or missing API key or client certificate stops a worker at start, saying so; the API says it in /readyz', async (ctx) => {
    if (!server || !database) return ctx.skip();
    const cases: [string, Record<string, string | undefined>, RegExp][] = [
      // What the process tried is in the line; the cause is the server's (UNAUTHENTICATED) or the transport's
      // (the front ends the TLS handshake: the SDK sees a closed connection).
      ['no API key', { TEMPORAL_API_KEY: undefined, TEMPORAL_TLS: 'true' }, /TLS with a client certificate, server CA given, server name localhost, no API key\): .*missing or wrong API key/],
      ['a wrong API key', { TEMPORAL_API_KEY: 'not-the-key' }, /, an API key\): .*valid authentication credentials.*missing or wrong API key/],
      ['no client certificate', { TEMPORAL_TLS_CLIENT_CERT_PATH: undefined, TEMPORAL_TLS_CLIENT_KEY_PATH: undefined }, /TLS without a client certificate, .*\): .*(transport error|connection closed)/],
      [
        'a client certificate of another CA',
        { TEMPORAL_TLS_CLIENT_CERT_PATH: pki!.strangerCert, TEMPORAL_TLS_CLIENT_KEY_PATH: pki!.strangerKey },
        /TLS with a client certificate, .*\): .*(transport error|connection closed)/,
      ],
    ];
    for (const [what, overrides, cause] of cases) {
      const handshakesBefore = front!.handshakeErrors.length;
      const res = await trellis(['worker'], temporalEnv(overrides));
      const said = `${what}: ${res.stderr}`;
      expect(res.code, said).toBe(1);
      const lines = res.stderr.trimEnd().split('\n');
      expect(lines, said).toHaveLength(1);
      expect(lines.at(-1), said).toMatch(new RegExp(`^trellis worker: cannot connect to Temporal at ${front!.address.replace(/\./g, '\\.')}`));
      expect(lines.at(-1), said).toMatch(cause);
      if (what.includes('certificate')) expect(front!.handshakeErrors.length, said).toBeGreaterThan(handshakesBefore);
    }

    // The API starts without Temporal (it serves what needs only Postgres) and /readyz names the cause.
    const { api, base } = await startApi(temporalEnv({ TEMPORAL_API_KEY: 'not-the-key' }));
    const ready = await fetch(`${base}/readyz`);
    const body = (await ready.json()) as { error: { code: string; message: string; details: { check: string; message: string }[] } };
    expect(ready.status).toBe(503);
    expect(body.error.code).toBe('NOT_READY');
    expect(body.error.details).toContainEqual({ check: 'temporal', message: expect.stringMatching(/missing or wrong API key/) });
    await api.stop();
  }, 240_000);
});
