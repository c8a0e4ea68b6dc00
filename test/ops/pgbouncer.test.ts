import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trellis } from '../support/cli';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, prebuiltWorkflowBundle, spawnUntil, type FaultProcess } from '../support/fault-process';
import { PGBOUNCER, pooledTransactions, startPgBouncer, type PgBouncer } from '../support/pgbouncer';
import { SseClient } from '../support/sse-client';
import { connectTestServer, type ServerEnv } from '../support/temporal';
import { tearDownDeployment } from '../support/deployment-teardown';

/*
 * DESIGN §7: DATABASE_URL may be a transaction-mode pooler. Debian's PgBouncer (1.18: no
 * prepared-statement support in transaction mode) in front of an empty database: `trellis
 * migrate` through DATABASE_DIRECT_URL (its advisory lock is a session's), the CLI's, the API's
 * and the worker's pools through PgBouncer with 3 server connections shared by everyone, LISTEN
 * (the event stream) through the direct URL. Skips loudly without PgBouncer; the run through a
 * worker needs a Temporal server (TEMPORAL_ADDRESS), the rest does not.
 */
const BIN = path.join(__dirname, '..', '..', 'bin', 'trellis.js');
const havePgBouncer = fs.existsSync(PGBOUNCER);
if (!havePgBouncer) console.warn(`\n!!! SKIPPED the PgBouncer tests: ${PGBOUNCER} not installed (apt-get install pgbouncer)\n`);

let database: TestDatabase | undefined;
let bouncer: PgBouncer | undefined;
let server: ServerEnv | undefined;
let api: FaultProcess | undefined;
let base = '';
let key = '';
const processes: FaultProcess[] = [];
const taskQueue = `trellis-pgbouncer-${randomUUID()}`;
const started: string[] = [];
let bundle: string | undefined;

const databaseName = () => new URL(database!.url).pathname.slice(1);
/** What every process here gets: the pool through PgBouncer, LISTEN and migrations direct. */
const pooledEnv = () => ({ DATABASE_URL: bouncer!.url, DATABASE_DIRECT_URL: database!.url, TRELLIS_TASK_QUEUE: taskQueue, LOG_LEVEL: 'info', LOG_FORMAT: 'json' });

beforeAll(async () => {
  if (!havePgBouncer) return;
  database = await createTestDatabase({ migrated: false });
  bouncer = await startPgBouncer(database.url, { poolSize: 3 });
  server = process.env.TEMPORAL_ADDRESS ? await connectTestServer('PgBouncer run') : undefined;
}, 120_000);

afterAll(async () => {
  await tearDownDeployment({ processes, server, started, taskQueue, bundle, database, fronts: [() => bouncer?.stop()] });
}, 60_000);

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe.skipIf(!havePgBouncer)('behind PgBouncer 1.18 in transaction mode', () => {
  it('trellis migrate goes direct; the CLI and the API work through the pooler', async () => {
    const migrated = await trellis(['migrate'], pooledEnv());
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toMatch(/^applied 20261122000000_init$/m);

    // The CLI's own database paths, through PgBouncer.
    const created = await trellis(['apikey', 'create', '--tenant', 'acme'], { ...pooledEnv(), DATABASE_DIRECT_URL: undefined });
    expect(created.code, created.stderr).toBe(0);
    key = created.stdout.trimEnd().split('\n').pop()!;
    const listed = await trellis(['apikey', 'list', '--tenant', 'acme'], { ...pooledEnv(), DATABASE_DIRECT_URL: undefined });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.trim().split('\n')).toHaveLength(1);

    const before = await pooledTransactions(bouncer!.adminUrl, databaseName());
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    api = await spawnUntil(
      'trellis api',
      [BIN, 'api'],
      // Migrated already: the start checks the schema through the direct URL and finds nothing to do.
      { ...pooledEnv(), PORT: String(port), TEMPORAL_ADDRESS: server?.env.address ?? '127.0.0.1:9' },
      (output) => output.includes('Server listening at'),
      60_000,
    );
    processes.push(api);

    // The delay keeps the run going while the test opens its event stream (then events come through LISTEN, not the snapshot).
    const definition = {
      name: 'pooled',
      nodes: [
        { id: 'wait', type: 'delay', config: { duration: '3s' } },
        { id: 'shape', type: 'transform', config: { expression: '{ "doubled": input.n * 2 }' } },
      ],
      edges: [{ from: 'wait', to: 'shape' }],
    };
    const workflow = await call('POST', '/workflows', { name: 'pooled', definition });
    expect(workflow.status, JSON.stringify(workflow.json)).toBe(201);
    // Many clients at once on 3 server connections: statements of different requests interleave
    // on the same server connection (where a named prepared statement would collide).
    const reads = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? call('GET', `/workflows/${String(workflow.json.id)}`) : call('GET', '/workflows'))),
    );
    expect(reads.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(reads[1]!.json).toMatchObject({ id: workflow.json.id, name: 'pooled' });
    const updated = await call('PUT', `/workflows/${String(workflow.json.id)}`, { definition: { ...definition, name: 'pooled-2' } });
    expect(updated.status, JSON.stringify(updated.json)).toBe(200);
    expect((await call('GET', `/workflows/${String(workflow.json.id)}`)).json).toMatchObject({ version: 2, definition: { name: 'pooled-2' } });

    // It really went through PgBouncer.
    expect(await pooledTransactions(bouncer!.adminUrl, databaseName())).toBeGreaterThan(before + 30);
    expect(api.output.join('')).not.toMatch(/prepared statement|"level":50/);
  }, 120_000);

  it('a run through a worker on the pooler, its events streamed through LISTEN on the direct URL', async (ctx) => {
    if (!server) {
      console.warn('\n!!! SKIPPED the PgBouncer run: no Temporal server (set TEMPORAL_ADDRESS=host:7233)\n');
      return ctx.skip();
    }
    if (!api) throw new Error('the API did not start (see the test before)');
    bundle = await prebuiltWorkflowBundle();
    const worker = await spawnUntil(
      'trellis worker',
      [BIN, 'worker'],
      { ...pooledEnv(), TEMPORAL_ADDRESS: server.env.address, TRELLIS_WORKFLOW_BUNDLE: bundle },
      (output) => output.includes('"worker started"'),
      120_000,
    );
    processes.push(worker);
    const workflows = await call('GET', '/workflows');
    const workflowId = String((workflows.json.items as { id: string }[])[0]!.id);
    const run = await call('POST', '/executions', { workflowId, input: { n: 21 } });
    expect(run.status, JSON.stringify(run.json)).toBe(202);
    const id = String(run.json.id);
    started.push(id);

    const stream = await SseClient.open(`${base}/executions/${id}/events`, { authorization: `Bearer ${key}` });
    expect(stream.status).toBe(200);
    await stream.closed(60_000); // the stream ends after the run's terminal event
    const events = stream.rest();
    // Transitions after the snapshot arrive only through the hub's LISTEN (on DATABASE_DIRECT_URL).
    const runStatuses = events.filter((e) => e.event === 'run').map((e) => (JSON.parse(e.data!) as { status: string }).status);
    const nodeEvents = events.filter((e) => e.event === 'node').map((e) => JSON.parse(e.data!) as { nodeId: string; status: string });
    expect(runStatuses, JSON.stringify(events)).toContain('SUCCEEDED');
    expect(nodeEvents, JSON.stringify(events)).toContainEqual(expect.objectContaining({ nodeId: 'shape', status: 'SUCCEEDED' }));

    const execution = await call('GET', `/executions/${id}`);
    expect(execution.json).toMatchObject({ status: 'SUCCEEDED' });
    expect(JSON.stringify(execution.json)).toContain('"doubled":42');
    const printed = worker.output.join('');
    expect(printed).not.toMatch(/prepared statement|reconciler failed/);
  }, 180_000);
});
