import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/services/api-keys';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, spawnUntil, waitFor, type FaultProcess } from '../support/fault-process';
import { connectTestServer, type ServerEnv } from '../support/temporal';

/*
 * The extension point end to end, as an operator runs it: `trellis worker` and `trellis api`
 * started through bin/trellis.js with `--plugin examples/plugins/checksum.mjs`, a workflow using
 * the plugin's `checksum` node created and run over HTTP, and its output checked.
 */
const ROOT = path.join(__dirname, '..', '..');
const PLUGIN = 'examples/plugins/checksum.mjs';
const EXAMPLE = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'plugins', 'checksum-workflow.json'), 'utf8')) as {
  definition: unknown;
  sampleInput: { orderId: string; lines: unknown[] };
};

/** `node bin/trellis.js <args>` from the repository root; resolves once its output matches `ready`. */
function startCli(args: string[], env: Record<string, string>, ready: RegExp, timeoutMs = 180_000): Promise<FaultProcess> {
  const cliEnv = { TRELLIS_PLUGINS: '', TRELLIS_PAYLOAD_KEY: '', TRELLIS_MASTER_KEY: '', ...env };
  return spawnUntil(`trellis ${args[0]}`, [path.join(ROOT, 'bin', 'trellis.js'), ...args], cliEnv, (output) => ready.test(output), timeoutMs);
}

let server: ServerEnv | undefined;
let database: TestDatabase | undefined;
const processes: FaultProcess[] = [];
let apiUrl = '';
let key = '';

beforeAll(async () => {
  server = await connectTestServer('plugin end-to-end test');
  if (!server) return;
  database = await createTestDatabase();
  ({ key } = await createApiKey(database.db, 'acme'));
  const port = await freePort();
  const env = { DATABASE_URL: database.url, TEMPORAL_ADDRESS: server.env.address, TRELLIS_TASK_QUEUE: `trellis-plugins-${randomUUID()}` };
  // The worker through --plugin, the API through TRELLIS_PLUGINS: both ways an operator has.
  const [worker, api] = await Promise.all([
    startCli(['worker', '--plugin', PLUGIN], env, /task queue "trellis-plugins-/),
    startCli(['api'], { ...env, TRELLIS_PLUGINS: PLUGIN, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info' }, /Server listening at/),
  ]);
  processes.push(worker, api);
  apiUrl = `http://127.0.0.1:${port}`;
}, 240_000);
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await database?.drop();
  await server?.env.teardown();
}, 60_000);

async function call<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${apiUrl}${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

interface RunView {
  status: string;
  nodes: { nodeId: string; status: string; output: unknown }[];
}

describe('a plugin node type through the CLI processes', () => {
  it('both processes say which plugin types they loaded', (ctx) => {
    if (!server) return ctx.skip();
    expect(processes[0]!.output.join('')).toContain(`trellis worker: plugin ${PLUGIN}: checksum`);
    expect(processes[1]!.output.join('')).toContain(`trellis api: plugin ${PLUGIN}: checksum`);
  });

  it('validates, stores and runs a workflow with a checksum node; the output is the real digest', async (ctx) => {
    if (!server) return ctx.skip();
    const bad = await call('POST', '/workflows/validate', {
      definition: { name: 'bad', nodes: [{ id: 'd', type: 'checksum', config: { data: 'x', algorithm: 'crc32' } }] },
    });
    expect(bad.status).toBe(200);
    expect(bad.body).toMatchObject({ valid: false, errors: [expect.objectContaining({ path: '/nodes/0/config/algorithm' })] });

    const created = await call<{ id: string }>('POST', '/workflows', { name: 'checksum an order', definition: EXAMPLE.definition });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const started = await call<{ id: string }>('POST', '/executions', { workflowId: created.body.id, input: EXAMPLE.sampleInput });
    expect(started.status, JSON.stringify(started.body)).toBe(202);

    const run = await waitFor(
      'the run to finish',
      async () => {
        const view = (await call<RunView>('GET', `/executions/${started.body.id}`)).body;
        return ['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'].includes(view.status) ? view : undefined;
      },
      60_000,
    );
    expect(run.status, JSON.stringify(run)).toBe('SUCCEEDED');
    // The checksum node hashes canonical JSON (keys sorted) of the order node's output.
    expect(EXAMPLE.sampleInput).toEqual({ orderId: 'A-17', lines: [{ sku: 'tea', qty: 2 }] });
    const expected = createHash('sha256').update('{"id":"A-17","lines":[{"qty":2,"sku":"tea"}]}').digest('hex');
    const orderId = 'A-17';
    const digest = run.nodes.find((n) => n.nodeId === 'digest');
    expect(digest).toMatchObject({ status: 'SUCCEEDED', output: { algorithm: 'sha256', encoding: 'hex', digest: expected, bytes: 45 } });
    expect(run.nodes.find((n) => n.nodeId === 'receipt')?.output).toEqual({ order: orderId, sha256: expected });
  }, 90_000);
});
