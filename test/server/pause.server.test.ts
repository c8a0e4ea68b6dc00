import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Worker } from '@temporalio/worker';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { WORKFLOWS_PATH, createTrellisWorker } from '../../src/worker';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { connectTestServer, type ServerEnv } from '../support/temporal';
import { probeJournal, probeNodeType } from '../support/probe-node';

/**
 * Pause and resume (DESIGN.md §6, issue 27 item 2) through the API against a real Temporal
 * server, with a worker of the test's own so that one test can stop it and start another.
 */
let server: ServerEnv | undefined;
let database: TestDatabase;
let app: FastifyInstance;
let key: string;
let otherKey: string;
const taskQueue = `trellis-pause-${randomUUID()}`;
const registry = createNodeRegistry([probeNodeType]);
let worker: { instance: Worker; running: Promise<void> } | undefined;

async function startWorker(): Promise<void> {
  const instance = await createTrellisWorker({
    connection: server!.env.nativeConnection,
    namespace: server!.env.namespace,
    taskQueue,
    registry,
    db: database.db,
  });
  worker = { instance, running: instance.run() };
}

async function stopWorker(): Promise<void> {
  if (!worker) return;
  worker.instance.shutdown();
  await worker.running;
  worker = undefined;
}

async function startApi(): Promise<void> {
  app = await buildApp({ db: database.db, temporal: createTemporalGateway(server!.env.client, taskQueue), catalog: registry.catalog() });
}

beforeAll(async () => {
  server = await connectTestServer('pause and resume server tests');
  if (!server) return;
  process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1';
  database = await createTestDatabase();
  ({ key } = await createApiKey(database.db, 'acme'));
  ({ key: otherKey } = await createApiKey(database.db, 'globex'));
  await startWorker();
  await startApi();
}, 120_000);

afterAll(async () => {
  await app?.close();
  await stopWorker();
  await database?.drop();
  await server?.env.teardown();
});

function serverIt(name: string, fn: () => Promise<void>): void {
  it(name, async (ctx) => {
    if (!server) return ctx.skip();
    await fn();
  }, 180_000);
}

const call = (method: 'GET' | 'POST', url: string, payload?: unknown, as = key) =>
  app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${as}` } });

interface RunView {
  id: string;
  status: string;
  paused: boolean;
  pausedAt: string | null;
  pausedBy: string | null;
  nodes: { nodeId: string; status: string; output: unknown }[];
}
const node = (run: RunView, id: string) => run.nodes.find((n) => n.nodeId === id)!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function get(id: string): Promise<RunView> {
  const res = await call('GET', `/executions/${id}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as RunView;
}

async function until(id: string, pred: (run: RunView) => boolean, what = 'the expected state'): Promise<RunView> {
  // Generous: several helpers share two cores.
  for (let i = 0; i < 1200; i++) {
    const run = await get(id);
    if (pred(run)) return run;
    await sleep(100);
  }
  throw new Error(`execution ${id} never reached ${what}: ${JSON.stringify(await get(id))}`);
}

async function startStored(definition: object, extra: object = {}): Promise<string> {
  const name = `pause-${randomUUID().slice(0, 8)}`;
  const created = await call('POST', '/workflows', { name, definition: { name, ...definition } });
  expect(created.statusCode, created.body).toBe(201);
  const started = await call('POST', '/executions', { workflowId: created.json().id, ...extra });
  expect(started.statusCode, started.body).toBe(202);
  return started.json().id as string;
}

async function pause(id: string, paused = true): Promise<void> {
  const res = await call('POST', `/executions/${id}/${paused ? 'pause' : 'resume'}`);
  expect(res.statusCode, res.body).toBe(202);
  expect(res.json()).toMatchObject({ id, paused });
}

/** Probe starts of a run and of the map and loop workflows it started (their ids begin with the run's). */
function starts(id: string, nodeId?: string): number {
  let n = 0;
  for (const [executionId, events] of probeJournal) {
    if (executionId !== id && !executionId.startsWith(`${id}.`)) continue;
    n += events.filter((e) => e.event === 'start' && (nodeId === undefined || e.nodeId === nodeId)).length;
  }
  return n;
}

/** The run's history, and its map / loop workflows' given by id, replay with the current workflow code. */
async function replays(...workflowIds: string[]): Promise<void> {
  for (const workflowId of workflowIds) {
    const handle = server!.env.client.workflow.getHandle(workflowId);
    // The mirror shows the end just before the workflow completes: replay the whole history.
    await handle.result().catch(() => undefined);
    const history = await handle.fetchHistory();
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, history, workflowId);
  }
}

/**
 * Waits until `nodeId` has started `atLeast` times (at most 30 s), pauses the run and waits for
 * the pause to show; lets the attempts in flight finish (`settleMs`), then checks that no new one
 * starts for `holdMs`. Returns the count it settled at.
 */
async function pauseOnceStarted(id: string, nodeId: string, atLeast: number, wait: { settleMs: number; holdMs: number }): Promise<number> {
  for (let i = 0; i < 600 && starts(id, nodeId) < atLeast; i++) await sleep(50);
  await pause(id);
  await until(id, (r) => r.paused, 'paused');
  await sleep(wait.settleMs);
  const settled = starts(id, nodeId);
  await sleep(wait.holdMs);
  expect(starts(id, nodeId)).toBe(settled);
  return settled;
}

/** Resumes a paused run and waits for it to end, SUCCEEDED. */
async function resumeToSuccess(id: string): Promise<RunView> {
  await pause(id, false);
  const done = await until(id, (r) => r.status !== 'RUNNING', 'the end');
  expect(done.status).toBe('SUCCEEDED');
  return done;
}

const chain = (firstMs: number) => ({
  nodes: [
    { id: 'first', type: 'probe', config: { sleepMs: firstMs, value: 1 } },
    { id: 'second', type: 'probe', config: { value: 2 } },
  ],
  edges: [{ from: 'first', to: 'second' }],
});

describe('pause and resume', () => {
  serverIt('a paused chain finishes the node in flight, starts the next only after resume', async () => {
    const id = await startStored(chain(1_500));
    await until(id, (r) => node(r, 'first').status === 'RUNNING', 'first RUNNING');
    await pause(id);
    const paused = await until(id, (r) => r.paused && node(r, 'first').status === 'SUCCEEDED', 'paused with first done');
    expect(paused.status).toBe('RUNNING');
    expect(paused.pausedBy).toMatch(/^apikey:/);
    expect(Date.parse(paused.pausedAt!)).toBeGreaterThan(0);
    // Pausing again is harmless; the live view agrees with the mirror.
    await pause(id);
    const live = (await call('GET', `/executions/${id}?live=1`)).json() as RunView;
    expect(live).toMatchObject({ status: 'RUNNING', paused: true });
    await sleep(2_000);
    const held = await get(id);
    expect(node(held, 'second').status).toBe('PENDING');
    expect(starts(id, 'second')).toBe(0);
    expect(held).toMatchObject({ status: 'RUNNING', paused: true });

    await pause(id, false);
    const done = await until(id, (r) => r.status !== 'RUNNING', 'the end');
    expect(done).toMatchObject({ status: 'SUCCEEDED', paused: false, pausedAt: null, pausedBy: null });
    expect(node(done, 'second').status).toBe('SUCCEEDED');
    await replays(id);
  });

  serverIt('a map of 300 items (batch child workflows) paused mid-way starts no new item until resumed', async () => {
    const id = await startStored({
      nodes: [
        {
          id: 'each',
          type: 'map',
          config: {
            items: '[1..300]',
            maxConcurrency: 8,
            body: { nodes: [{ id: 'work', type: 'probe', config: { sleepMs: 150 } }] },
          },
        },
      ],
    });
    const settled = await pauseOnceStarted(id, 'work', 24, { settleMs: 2_500, holdMs: 2_500 });
    expect(settled).toBeLessThan(300);
    expect(settled).toBeGreaterThanOrEqual(24);
    expect((await get(id)).status).toBe('RUNNING');

    const done = await resumeToSuccess(id);
    expect((node(done, 'each').output as { counts: { succeeded: number } }).counts.succeeded).toBe(300);
    expect(starts(id, 'work')).toBe(300);
    await replays(id, `${id}.each`);
  });

  serverIt('a loop paused between iterations starts no new iteration until resumed', async () => {
    const id = await startStored({
      nodes: [
        {
          id: 'again',
          type: 'loop',
          config: { until: 'iteration >= 6', maxIterations: 10, body: { nodes: [{ id: 'step', type: 'probe', config: { sleepMs: 400 } }] } },
        },
      ],
    });
    const settled = await pauseOnceStarted(id, 'step', 2, { settleMs: 1_000, holdMs: 2_000 });
    expect(settled).toBeLessThan(6);
    await resumeToSuccess(id);
    expect(starts(id, 'step')).toBe(6);
    await replays(id);
  });

  serverIt('cancel still works while paused; the held node ends CANCELLED and the pause is gone', async () => {
    const id = await startStored(chain(300));
    await pause(id);
    await until(id, (r) => r.paused && node(r, 'first').status === 'SUCCEEDED', 'paused with first done');
    const cancelled = await call('POST', `/executions/${id}/cancel`, { reason: 'no longer needed' });
    expect(cancelled.statusCode, cancelled.body).toBe(202);
    const done = await until(id, (r) => r.status !== 'RUNNING', 'the end');
    expect(done).toMatchObject({ status: 'CANCELLED', paused: false });
    expect(node(done, 'second').status).toBe('CANCELLED');
    expect(starts(id, 'second')).toBe(0);
    await replays(id);
  });

  serverIt('runTimeout keeps counting while paused', async () => {
    const id = await startStored(chain(200), { runTimeout: '3s' });
    await pause(id);
    const done = await until(id, (r) => r.status !== 'RUNNING', 'the end');
    expect(done.status).toBe('TIMED_OUT');
    expect(starts(id, 'second')).toBe(0);
  });

  serverIt('the pause survives a worker restart and an API restart', async () => {
    const id = await startStored(chain(800));
    await pause(id);
    await until(id, (r) => r.paused && node(r, 'first').status === 'SUCCEEDED', 'paused with first done');
    await stopWorker();
    await app.close();
    await startWorker();
    await startApi();
    // The new worker replays the run from its history, the pause included.
    await sleep(2_000);
    const held = (await call('GET', `/executions/${id}?live=1`)).json() as RunView;
    expect(held).toMatchObject({ status: 'RUNNING', paused: true });
    expect(node(held, 'second').status).toBe('PENDING');
    expect(starts(id, 'second')).toBe(0);
    await pause(id, false);
    const done = await until(id, (r) => r.status !== 'RUNNING', 'the end');
    expect(done.status).toBe('SUCCEEDED');
    await replays(id);
  });

  serverIt("404 for another tenant's run or an unknown one, 409 EXECUTION_CLOSED for an ended run", async () => {
    const id = await startStored(chain(0));
    for (const action of ['pause', 'resume']) {
      const foreign = await call('POST', `/executions/${id}/${action}`, undefined, otherKey);
      expect(foreign.statusCode, foreign.body).toBe(404);
      expect((await call('POST', `/executions/ex_nope/${action}`)).statusCode).toBe(404);
    }
    await until(id, (r) => r.status === 'SUCCEEDED', 'SUCCEEDED');
    for (const action of ['pause', 'resume']) {
      const late = await call('POST', `/executions/${id}/${action}`);
      expect(late.statusCode, late.body).toBe(409);
      expect(late.json().error).toMatchObject({ code: 'EXECUTION_CLOSED', details: { status: 'SUCCEEDED' } });
    }
  });
});
