import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { probeNodeType } from '../support/probe-node';
import { startHarness, type Harness } from './harness';

/** Mocked nodes and test runs (DESIGN §6, issue 27 item 3) through the API against a real Temporal server. */
let h: Harness | undefined;
let app: FastifyInstance;
let key: string;
/** A loopback target that records every request: a mocked http node must send it nothing. */
let target: http.Server;
let targetBase: string;
const received: string[] = [];

beforeAll(async () => {
  h = await startHarness('mocked nodes server tests');
  if (!h) return;
  app = await buildApp({
    db: h.database.db,
    temporal: createTemporalGateway(h.server.env.client, h.taskQueue),
    catalog: createNodeRegistry([probeNodeType]).catalog(),
  });
  ({ key } = await createApiKey(h.database.db, 'acme'));
  target = http.createServer((req, res) => {
    received.push(`${req.method} ${req.url}`);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ real: true }));
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetBase = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await app?.close();
  if (target) await new Promise<void>((resolve) => target.close(() => resolve()));
  await h?.close();
});

function serverIt(name: string, fn: () => Promise<void>): void {
  it(name, async (ctx) => {
    if (!h) return ctx.skip();
    await fn();
  }, 120_000);
}

const call = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
  app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${key}` } });

interface NodeView {
  nodeId: string;
  status: string;
  attempt: number;
  output: unknown;
  error: { type?: string; message?: string } | null;
  mocked?: boolean;
  reused: boolean;
}
interface RunView {
  id: string;
  status: string;
  test: boolean;
  error: { type?: string; message?: string; nodeId?: string } | null;
  nodes: NodeView[];
}
const node = (run: RunView, id: string) => run.nodes.find((n) => n.nodeId === id)!;

async function until(id: string, pred: (run: RunView) => boolean): Promise<RunView> {
  for (let i = 0; i < 1000; i++) {
    const run = (await call('GET', `/executions/${id}`)).json() as RunView;
    if (pred(run)) return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`execution ${id} never matched`);
}

async function store(name: string, definition: object): Promise<string> {
  const created = await call('POST', '/workflows', { name, definition: { name, ...definition } });
  expect(created.statusCode, created.body).toBe(201);
  return created.json().id as string;
}

/** fetch (http, to the loopback target) → big (condition on its body) → bulk | one; `notify` on fetch's error edge. */
const orderSync = () => ({
  nodes: [
    { id: 'fetch', type: 'http', config: { method: 'GET', url: `${targetBase}/orders` }, retry: { maximumAttempts: 1 } },
    { id: 'big', type: 'condition', config: { expression: '$count(nodes.fetch.output.body) > 2' } },
    { id: 'bulk', type: 'transform', config: { expression: '"bulk of " & $string($count(nodes.fetch.output.body))' } },
    { id: 'one', type: 'transform', config: { expression: 'nodes.fetch.output.body[0]' } },
    { id: 'notify', type: 'transform', config: { expression: '"fetch failed: " & nodes.fetch.error.message' } },
  ],
  edges: [
    { from: 'fetch', to: 'big' },
    { from: 'big', to: 'bulk', when: 'true' },
    { from: 'big', to: 'one', when: 'false' },
    { from: 'fetch', to: 'notify', on: 'error' },
  ],
});

describe('mocked nodes', () => {
  serverIt('a mocked http node sends nothing and ends SUCCEEDED with the given output, which its successors read', async () => {
    const workflowId = await store('mocked-fetch', orderSync());
    const before = received.length;
    const started = await call('POST', '/executions', {
      workflowId,
      mocks: { fetch: { output: { status: 200, headers: {}, body: [{ id: 1 }, { id: 2 }, { id: 3 }] } } },
    });
    expect(started.statusCode, started.body).toBe(202);
    expect(started.json().test).toBe(true);
    const done = await until(started.json().id, (r) => r.status !== 'RUNNING');
    expect(done.status).toBe('SUCCEEDED');
    expect(done.test).toBe(true);
    expect(node(done, 'fetch')).toMatchObject({ status: 'SUCCEEDED', attempt: 1, mocked: true, reused: false, output: { status: 200, body: [{ id: 1 }, { id: 2 }, { id: 3 }] } });
    expect(node(done, 'big')).toMatchObject({ status: 'SUCCEEDED', output: { result: true } });
    expect(node(done, 'big').mocked).toBeUndefined();
    expect(node(done, 'bulk')).toMatchObject({ status: 'SUCCEEDED', output: 'bulk of 3' });
    expect(node(done, 'one').status).toBe('SKIPPED');
    expect(node(done, 'notify').status).toBe('SKIPPED');
    expect(received.slice(before)).toEqual([]);

    // The same workflow without mocks does call the target: the mock, not the definition, kept it quiet.
    const real = await call('POST', '/executions', { workflowId });
    expect(real.json().test).toBe(false);
    const realDone = await until(real.json().id, (r) => r.status !== 'RUNNING');
    expect(node(realDone, 'fetch')).toMatchObject({ status: 'SUCCEEDED', output: { body: { real: true } } });
    expect(node(realDone, 'fetch').mocked).toBeUndefined();
    expect(received.slice(before)).toEqual(['GET /orders']);
  });

  serverIt('a mocked error takes the failure path (the error edge runs), and a mocked branch decides the branch', async () => {
    const workflowId = await store('mocked-failure', orderSync());
    const before = received.length;
    const failing = await call('POST', '/executions', {
      workflowId,
      mocks: { fetch: { error: { type: 'HttpServerError', message: 'upstream said 503' } } },
    });
    expect(failing.statusCode, failing.body).toBe(202);
    const failed = await until(failing.json().id, (r) => r.status !== 'RUNNING');
    // An error edge handles the failure: the run succeeds, and the handler read the mocked error.
    expect(failed.status).toBe('SUCCEEDED');
    expect(node(failed, 'fetch')).toMatchObject({ status: 'FAILED', attempt: 1, mocked: true, error: { type: 'HttpServerError', message: 'upstream said 503' } });
    expect(node(failed, 'notify')).toMatchObject({ status: 'SUCCEEDED', output: 'fetch failed: upstream said 503' });
    expect(node(failed, 'big').status).toBe('SKIPPED');

    // Mocking the condition as well takes its false edge, whatever fetch returned.
    const branched = await call('POST', '/executions', {
      workflowId,
      mocks: { fetch: { output: { status: 200, body: [{ id: 7 }, { id: 8 }, { id: 9 }] } }, big: { output: { result: false } } },
    });
    const branchDone = await until(branched.json().id, (r) => r.status !== 'RUNNING');
    expect(node(branchDone, 'big')).toMatchObject({ status: 'SUCCEEDED', mocked: true, output: { result: false } });
    expect(node(branchDone, 'one')).toMatchObject({ status: 'SUCCEEDED', output: { id: 7 } });
    expect(node(branchDone, 'bulk').status).toBe('SKIPPED');
    expect(received.slice(before)).toEqual([]);
  });

  serverIt('a mocked error on a node without an error edge fails the run, naming the node and the message', async () => {
    const workflowId = await store('mocked-run-failure', {
      nodes: [
        { id: 'charge', type: 'probe', config: {} },
        { id: 'cleanup', type: 'noop', trigger: 'all_done' },
        { id: 'after', type: 'noop' },
      ],
      edges: [
        { from: 'charge', to: 'cleanup' },
        { from: 'charge', to: 'after' },
      ],
    });
    const started = await call('POST', '/executions', { workflowId, mocks: { charge: { error: { type: 'PaymentDeclined', message: 'card declined' } } } });
    const done = await until(started.json().id, (r) => r.status !== 'RUNNING');
    expect(done.status).toBe('FAILED');
    expect(done.error).toMatchObject({ type: 'PaymentDeclined', nodeId: 'charge', message: 'node "charge" failed: card declined' });
    expect(node(done, 'charge')).toMatchObject({ status: 'FAILED', mocked: true });
    expect(node(done, 'cleanup').status).toBe('SUCCEEDED');
    expect(node(done, 'after').status).toBe('SKIPPED');
    // Its mocks are not kept, so a retry would run the mocked node for real: refused.
    const retry = await call('POST', `/executions/${done.id}/retry`);
    expect(retry.statusCode, retry.body).toBe(409);
    expect(retry.json().error.message).toContain('test run');
  });

  serverIt('test runs are listed only with ?test=true and left out of the workflow stats', async () => {
    const workflowId = await store('listed-apart', { nodes: [{ id: 'step', type: 'probe', config: {} }] });
    const real = (await call('POST', '/executions', { workflowId })).json().id as string;
    const test = (await call('POST', '/executions', { workflowId, mocks: { step: { output: { ok: true } } } })).json().id as string;
    const testFailed = (await call('POST', '/executions', { workflowId, mocks: { step: { error: { type: 'Boom', message: 'no' } } } })).json().id as string;
    await until(real, (r) => r.status === 'SUCCEEDED');
    await until(test, (r) => r.status === 'SUCCEEDED');
    await until(testFailed, (r) => r.status === 'FAILED');

    const ids = async (query: string) => ((await call('GET', `/executions?workflowId=${workflowId}${query}`)).json().items as { id: string; test: boolean }[]);
    expect((await ids('')).map((r) => r.id)).toEqual([real]);
    expect((await ids('&test=false')).map((r) => r.id)).toEqual([real]);
    const tests = await ids('&test=true');
    expect(tests.map((r) => r.id).sort()).toEqual([test, testFailed].sort());
    expect(tests.every((r) => r.test)).toBe(true);
    expect((await ids('&test=true&status=FAILED')).map((r) => r.id)).toEqual([testFailed]);

    const stats = (await call('GET', `/workflows/${workflowId}/stats`)).json();
    expect(stats).toMatchObject({ total: 1, successRate: 1 });
    expect(stats.byStatus).toMatchObject({ SUCCEEDED: 1, FAILED: 0 });
  });

  serverIt('mocks of approval and delay nodes settle at once: the run does not wait', async () => {
    const workflowId = await store('mocked-waits', {
      nodes: [
        { id: 'wait', type: 'delay', config: { duration: '1h' } },
        { id: 'ok', type: 'approval', config: { timeout: '1h' } },
        { id: 'after', type: 'transform', config: { expression: 'nodes.ok.output.approved' } },
      ],
      edges: [
        { from: 'wait', to: 'ok' },
        { from: 'ok', to: 'after' },
      ],
    });
    const started = await call('POST', '/executions', {
      workflowId,
      mocks: { wait: { output: { firedAt: '2026-12-07T00:00:00.000Z' } }, ok: { output: { approved: true, by: 'mock', data: null } } },
    });
    expect(started.statusCode, started.body).toBe(202);
    const done = await until(started.json().id, (r) => r.status !== 'RUNNING');
    expect(done.status).toBe('SUCCEEDED');
    expect(node(done, 'after').output).toBe(true);
    expect(node(done, 'wait')).toMatchObject({ status: 'SUCCEEDED', mocked: true });
  });
});

describe('mocked nodes in the workflow', () => {
  serverIt('a run started with mocks (outside the API too) replays deterministically, its history naming the patch', async () => {
    const definition = { name: 'mocked-direct', ...orderSync() } as Parameters<Harness['start']>[1];
    const before = received.length;
    const handle = await h!.start('mocked-direct', definition, {}, { mocks: { fetch: { output: { status: 200, body: [1] } } } });
    // outcome() replays the recorded history against the current workflow code.
    const { result } = await h!.outcome(handle, 'mocked-direct');
    expect(result).toMatchObject({ status: 'SUCCEEDED', outputs: { fetch: { status: 200, body: [1] }, big: { result: false }, one: 1 } });
    expect(received.slice(before)).toEqual([]);
    const history = await handle.fetchHistory();
    // A patch marker's details carry its id as a JSON payload.
    const patchIds = (history.events ?? [])
      .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
      .flatMap((e) => (e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? []).map((p) => Buffer.from(p.data ?? []).toString('utf8')));
    expect(patchIds.some((data) => data.includes('"id":"mocked-nodes"'))).toBe(true);
    expect((history.events ?? []).some((e) => e.activityTaskScheduledEventAttributes?.activityId === 'fetch')).toBe(false);
  });
});

describe('refused mocks', () => {
  serverIt('400 naming every mock that fits no top-level node, with its path; nothing is started', async () => {
    const workflowId = await store('refused-mocks', {
      nodes: [
        { id: 'fetch', type: 'http', config: { method: 'GET', url: `${targetBase}/x` } },
        { id: 'big', type: 'condition', config: { expression: 'true' } },
        { id: 'each', type: 'map', config: { items: '[1]', body: { nodes: [{ id: 'inner', type: 'noop' }] } } },
      ],
      edges: [{ from: 'fetch', to: 'big' }],
    });
    const refused = await call('POST', '/executions', {
      workflowId,
      mocks: { fetch: { output: {} }, nope: { output: 1 }, inner: { output: 2 }, big: { output: { result: 'yes' } }, 'a/b': { output: 3 } },
    });
    expect(refused.statusCode, refused.body).toBe(400);
    const details = refused.json().error.details as { path: string; message: string }[];
    expect(details.map((d) => d.path).sort()).toEqual(['/body/mocks/a~1b', '/body/mocks/big/output', '/body/mocks/inner', '/body/mocks/nope'].sort());
    expect(details.find((d) => d.path === '/body/mocks/inner')!.message).toContain('map or loop body');
    expect(details.find((d) => d.path === '/body/mocks/nope')!.message).toContain('no node "nope"');
    // Schema: a mock is { output } or { error: { type, message } }, nothing else; an empty mocks is refused.
    for (const mocks of [{ fetch: { status: 'SUCCEEDED' } }, { fetch: { error: { message: 'no type' } } }, {}]) {
      const bad = await call('POST', '/executions', { workflowId, mocks });
      expect(bad.statusCode, JSON.stringify(mocks)).toBe(400);
      expect(JSON.stringify(bad.json().error.details)).toContain('/body/mocks');
    }
    const tooBig = await call('POST', '/executions', { workflowId, mocks: { fetch: { output: 'x'.repeat(300 * 1024) } } });
    expect(tooBig.statusCode, tooBig.body).toBe(400);
    expect(tooBig.json().error.details).toEqual([{ path: '/body/mocks', message: expect.stringContaining('at most') }]);
    expect((await call('GET', `/executions?workflowId=${workflowId}&test=true`)).json().items).toEqual([]);
    // Another tenant's workflow is not found, mocks or not.
    const { key: other } = await createApiKey(h!.database.db, 'globex');
    const foreign = await app.inject({ method: 'POST', url: '/executions', payload: { workflowId, mocks: { fetch: { output: {} } } }, headers: { authorization: `Bearer ${other}` } });
    expect(foreign.statusCode).toBe(404);
  });

  serverIt('an idempotency key names one request: the same key with and without mocks is a conflict', async () => {
    const workflowId = await store('mock-keys', { nodes: [{ id: 'step', type: 'probe', config: {} }] });
    const first = await call('POST', '/executions', { workflowId, idempotencyKey: 'mk-1', mocks: { step: { output: 1 } } });
    expect(first.statusCode).toBe(202);
    const again = await call('POST', '/executions', { workflowId, idempotencyKey: 'mk-1', mocks: { step: { output: 1 } } });
    expect([again.statusCode, again.json().id]).toEqual([202, first.json().id]);
    const unmocked = await call('POST', '/executions', { workflowId, idempotencyKey: 'mk-1' });
    expect(unmocked.statusCode).toBe(409);
  });
});
