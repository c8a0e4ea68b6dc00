import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { TimeoutFailure } from '@temporalio/common';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { cancelSignal, stateQuery, type DagRunState } from '../../src/contracts/dag-workflow';
import { probeJournal } from '../support/probe-node';
import { serverTests, startApiHarness, type ApiHarness } from './harness';

// Issue 12 on a real Temporal server: cancel as finally, runTimeout, retry lists, error types,
// Airflow trigger rules, switch on a missing value, subworkflow timeouts.
let h: ApiHarness | undefined;
beforeAll(async () => {
  h = await startApiHarness('definition semantics server tests');
});
afterAll(async () => {
  await h?.close();
});
const serverIt = serverTests(() => h, 60_000);
const call = (method: 'GET' | 'POST', url: string, payload?: unknown) => h!.call(method, url, payload);

interface RunView {
  id: string;
  status: string;
  error: { type: string; message: string } | null;
  nodes: { nodeId: string; status: string; attempt: number; error: { type: string } | null }[];
}
const nodeOf = (run: RunView, id: string) => run.nodes.find((n) => n.nodeId === id)!;

const until = (id: string, pred: (run: RunView) => boolean, tries = 400) => h!.untilRun(id, pred, tries);

const startStored = (definition: WorkflowDefinition, body: Record<string, unknown> = {}) => h!.startViaApi(definition, body);

/** examples/approval-gate.json's shape: take a lock, wait for a human, always release the lock. */
const lockedGate = (name: string): WorkflowDefinition => ({
  name,
  nodes: [
    { id: 'lock', type: 'probe', config: { value: 'locked' } },
    { id: 'gate', type: 'approval' },
    { id: 'ship', type: 'probe', config: { value: 'shipped' } },
    { id: 'release', type: 'probe', trigger: 'all_done', config: { value: 'released' } },
  ],
  edges: [
    { from: 'lock', to: 'gate' },
    { from: 'gate', to: 'ship' },
    { from: 'ship', to: 'release' },
  ],
});

describe('cancel runs cleanup, like finally', () => {
  serverIt('examples/approval-gate.json: cancelled while it waits, it still releases the lock', async () => {
    const requests: string[] = [];
    const api = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    try {
      const example = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'examples', 'approval-gate.json'), 'utf8'));
      const input = { ...example.sampleInput, deployApi: base, chatWebhook: `${base}/chat` };
      const id = await startStored(example.definition, { input });
      await until(id, (r) => nodeOf(r, 'sign_off').status === 'WAITING');
      expect((await call('POST', `/executions/${id}/cancel`, { reason: 'release train cancelled' })).statusCode).toBe(202);
      const done = await until(id, (r) => r.status !== 'RUNNING');
      expect(done.status).toBe('CANCELLED');
      expect(Object.fromEntries(done.nodes.map((n) => [n.nodeId, n.status]))).toEqual({
        lock: 'SUCCEEDED',
        sign_off: 'CANCELLED',
        deploy: 'CANCELLED',
        notify_rejected: 'CANCELLED',
        cleanup: 'SUCCEEDED',
      });
      expect(requests).toEqual([`POST /changes/${input.changeId}/lock`, `DELETE /changes/${input.changeId}/lock`]);
    } finally {
      await new Promise<void>((resolve) => api.close(() => resolve()));
    }
  });

  serverIt('cancelling a run that waits releases the lock, then the run ends CANCELLED', async () => {
    const id = await startStored(lockedGate('gate-cancel'));
    await until(id, (r) => nodeOf(r, 'gate').status === 'WAITING');
    expect((await call('POST', `/executions/${id}/cancel`, { reason: 'changed my mind' })).statusCode).toBe(202);
    const done = await until(id, (r) => r.status !== 'RUNNING');
    expect(done.status).toBe('CANCELLED');
    expect(done.error).toMatchObject({ type: 'Cancelled', message: 'changed my mind' });
    expect(Object.fromEntries(done.nodes.map((n) => [n.nodeId, n.status]))).toEqual({
      lock: 'SUCCEEDED',
      gate: 'CANCELLED',
      ship: 'CANCELLED',
      release: 'SUCCEEDED',
    });
    expect(probeJournal.get(id)?.filter((e) => e.event === 'end').map((e) => e.nodeId)).toEqual(['lock', 'release']);
  });

  serverIt('force skips cleanup', async () => {
    const id = await startStored(lockedGate('gate-force'));
    await until(id, (r) => nodeOf(r, 'gate').status === 'WAITING');
    expect((await call('POST', `/executions/${id}/cancel`, { force: true })).statusCode).toBe(202);
    const done = await until(id, (r) => r.status !== 'RUNNING');
    expect(done.status).toBe('CANCELLED');
    expect(nodeOf(done, 'release').status).toBe('CANCELLED');
    expect(probeJournal.get(id)?.some((e) => e.nodeId === 'release')).toBe(false);
  });

  serverIt('a second cancel stops cleanup that is still running', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'slow-cleanup',
      nodes: [
        { id: 'gate', type: 'approval' },
        { id: 'release', type: 'probe', trigger: 'all_done', config: { sleepMs: 30_000 } },
      ],
      edges: [{ from: 'gate', to: 'release' }],
    };
    const handle = await h.start('cancel-twice', definition);
    await waitForState(handle, (s) => s.nodes.gate?.status === 'WAITING');
    await handle.signal(cancelSignal, { reason: 'first' });
    await waitForState(handle, (s) => s.nodes.release?.status === 'RUNNING');
    await handle.signal(cancelSignal, { reason: 'second' });
    const { result } = await h.outcome(handle, 'cancel-twice');
    expect(result?.status).toBe('CANCELLED');
    const state = await handle.query(stateQuery);
    expect(state.nodes.release!.status).toBe('CANCELLED');
    expect(probeJournal.get(handle.workflowId)?.map((e) => e.event)).toEqual(['start', 'cancelled']);
  });

  serverIt('a Temporal cancellation runs cleanup too, and Temporal shows the run cancelled', async (h) => {
    const handle = await h.start('temporal-cancel-cleanup', lockedGate('temporal-cancel'));
    await waitForState(handle, (s) => s.nodes.gate?.status === 'WAITING');
    await handle.cancel();
    const { error } = await h.outcome(handle, 'temporal-cancel-cleanup');
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    const state = await handle.query(stateQuery);
    expect(state.status).toBe('CANCELLED');
    expect(state.nodes.release!.status).toBe('SUCCEEDED');
    expect(state.nodes.ship!.status).toBe('CANCELLED');
  });
});

describe('runTimeout', () => {
  serverIt(
    'ends the run TIMED_OUT in the mirror and in Temporal; running nodes are cancelled, cleanup still runs',
    async (h) => {
      const definition: WorkflowDefinition = {
        name: 'too-slow',
        runTimeout: '1h',
        nodes: [
          { id: 'work', type: 'probe', config: { sleepMs: 60_000 } },
          { id: 'after', type: 'probe' },
          { id: 'cleanup', type: 'probe', trigger: 'all_done', config: { value: 'cleaned' } },
        ],
        edges: [
          { from: 'work', to: 'after' },
          { from: 'after', to: 'cleanup' },
        ],
      };
      // The start overrides the definition's hour.
      expect((await call('POST', '/executions', { workflowId: 'wf_x', runTimeout: '40d' })).statusCode).toBe(400);
      const started = Date.now();
      const id = await startStored(definition, { runTimeout: '2s' });
      const mirrored = await until(id, (r) => r.status !== 'RUNNING');
      expect(mirrored.status).toBe('TIMED_OUT');
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
      expect(mirrored.error).toMatchObject({ type: 'RunTimedOut' });
      expect(Object.fromEntries(mirrored.nodes.map((n) => [n.nodeId, n.status]))).toEqual({ work: 'CANCELLED', after: 'CANCELLED', cleanup: 'SUCCEEDED' });
      const handle = h.server.env.client.workflow.getHandle(id);
      await expect(handle.result()).rejects.toSatisfy((err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof TimeoutFailure);
      expect((await handle.describe()).status.name).toBe('TIMED_OUT');
      // The mirror still says TIMED_OUT (the reconciler would agree with Temporal).
      expect((await call('GET', `/executions/${id}`)).json().status).toBe('TIMED_OUT');
    },
    90_000,
  );
});

describe('runTimeout on a run started without a Temporal execution timeout', () => {
  serverIt('stops the run, runs cleanup and fails the Temporal execution with RunTimedOut', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'timeout-fallback',
      runTimeout: '1s',
      nodes: [
        { id: 'gate', type: 'approval' },
        { id: 'cleanup', type: 'noop', trigger: 'all_done' },
      ],
      edges: [{ from: 'gate', to: 'cleanup' }],
    };
    const handle = await h.start('run-timeout-fallback', definition);
    const { result, error } = await h.outcome(handle, 'run-timeout-fallback');
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error!.cause as { type?: string }).type).toBe('RunTimedOut');
    expect(result).toMatchObject({ status: 'TIMED_OUT', error: { type: 'RunTimedOut' } });
    const state = await handle.query(stateQuery);
    expect(state.nodes.gate!.status).toBe('CANCELLED');
    expect(state.nodes.cleanup!.status).toBe('SUCCEEDED');
  });
});

describe('retry per error type, named errors, error edges by type', () => {
  serverIt('a retry list picks the retrier by error type; maximumAttempts counts every attempt', async (h) => {
    const retry = [
      { errors: ['Flaky'], maximumAttempts: 3, initialInterval: '100ms' },
      { errors: ['Named'], maximumAttempts: 2, initialInterval: '100ms' },
      { errors: ['*'], maximumAttempts: 1 },
    ];
    const definition: WorkflowDefinition = {
      name: 'retriers',
      nodes: [
        { id: 'flaky', type: 'probe', retry, config: { failTimes: 2, failType: 'Flaky', value: 'ok' } },
        { id: 'named', type: 'probe', retry, config: { failTimes: 1, failType: 'Named', nonRetryable: true } },
        { id: 'other', type: 'probe', retry, onError: 'continue', config: { failTimes: 5, failType: 'Other' } },
        { id: 'exhausted', type: 'probe', retry, onError: 'continue', config: { failTimes: 5, failType: 'Flaky' } },
      ],
    };
    const handle = await h.start('retry-list', definition);
    const { result } = await h.outcome(handle, 'retry-list');
    expect(result?.status).toBe('SUCCEEDED');
    const state = await handle.query(stateQuery);
    expect(state.nodes.flaky).toMatchObject({ status: 'SUCCEEDED', attempt: 3 });
    expect(state.nodes.named).toMatchObject({ status: 'SUCCEEDED', attempt: 2 }); // named: retried although non-retryable
    expect(state.nodes.other).toMatchObject({ status: 'FAILED', attempt: 1, error: { type: 'Other' } });
    expect(state.nodes.exhausted).toMatchObject({ status: 'FAILED', attempt: 3, error: { type: 'Flaky' } });
    const attempts = (id: string) => probeJournal.get(handle.workflowId)!.filter((e) => e.nodeId === id && e.event === 'start').map((e) => e.attempt);
    expect(attempts('exhausted')).toEqual([1, 2, 3]);
  });

  serverIt('an http errors map names a status; error edges take only the types they name', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'named-errors',
      nodes: [
        { id: 'get', type: 'http', retry: { maximumAttempts: 1 }, config: { url: '{{ input.base & "/missing" }}', errors: { '404': 'Missing', '5xx': 'Upstream' } } },
        { id: 'onMissing', type: 'transform', config: { expression: 'nodes.get.error.type' } },
        { id: 'onUpstream', type: 'noop' },
        { id: 'next', type: 'noop' },
      ],
      edges: [
        { from: 'get', to: 'onMissing', on: 'error', errors: ['Missing'] },
        { from: 'get', to: 'onUpstream', on: 'error', errors: ['Upstream'] },
        { from: 'get', to: 'next' },
      ],
    };
    const handle = await h.start('http-errors-map', definition, { base: h.httpBase });
    const { result } = await h.outcome(handle, 'http-errors-map');
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.onMissing).toBe('Missing');
    const state = await handle.query(stateQuery);
    expect(state.nodes.get).toMatchObject({ status: 'FAILED', error: { type: 'Missing' } });
    expect(state.nodes.onUpstream!.status).toBe('SKIPPED');
    expect(state.nodes.next!.status).toBe('SKIPPED');
  });

  serverIt('a failure no error edge takes follows onError: the run fails', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'unmatched-error',
      nodes: [
        { id: 'boom', type: 'fail', config: { message: 'no', type: 'Fatal' } },
        { id: 'handler', type: 'noop' },
      ],
      edges: [{ from: 'boom', to: 'handler', on: 'error', errors: ['Recoverable'] }],
    };
    const handle = await h.start('unmatched-error', definition);
    const { result, error } = await h.outcome(handle, 'unmatched-error');
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(result).toMatchObject({ status: 'FAILED', error: { type: 'Fatal', nodeId: 'boom' } });
  });
});

describe('trigger rules and switch on a missing value', () => {
  serverIt('one_success, one_failed, all_failed, none_skipped and always decide as in Airflow', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'triggers',
      nodes: [
        { id: 'fast', type: 'probe', config: { value: 1 } },
        { id: 'slow', type: 'probe', onError: 'continue', config: { sleepMs: 1_500, failTimes: 9, nonRetryable: true } },
        { id: 'first', type: 'probe', trigger: 'one_success' },
        { id: 'alert', type: 'noop', trigger: 'one_failed' },
        { id: 'allFailed', type: 'noop', trigger: 'all_failed' },
        { id: 'noneSkipped', type: 'noop', trigger: 'none_skipped' },
        { id: 'route', type: 'switch', config: { expression: 'input.kind' } },
        { id: 'byDefault', type: 'noop' },
        { id: 'special', type: 'noop' },
        { id: 'fin', type: 'noop', trigger: 'always' },
      ],
      edges: [
        { from: 'fast', to: 'first' },
        { from: 'slow', to: 'first' },
        { from: 'fast', to: 'alert' },
        { from: 'slow', to: 'alert' },
        { from: 'fast', to: 'allFailed' },
        { from: 'slow', to: 'allFailed' },
        { from: 'fast', to: 'noneSkipped' },
        { from: 'slow', to: 'noneSkipped' },
        { from: 'route', to: 'special', when: 'special' },
        { from: 'route', to: 'byDefault', when: 'default' },
        { from: 'special', to: 'fin' },
      ],
    };
    const handle = await h.start('triggers', definition, {});
    const { result } = await h.outcome(handle, 'triggers');
    expect(result?.status).toBe('SUCCEEDED');
    const state = await handle.query(stateQuery);
    const statuses = Object.fromEntries(Object.entries(state.nodes).map(([id, n]) => [id, n.status]));
    expect(statuses).toEqual({
      fast: 'SUCCEEDED',
      slow: 'FAILED',
      first: 'SUCCEEDED',
      alert: 'SUCCEEDED',
      allFailed: 'SKIPPED',
      noneSkipped: 'SUCCEEDED',
      route: 'SUCCEEDED',
      byDefault: 'SUCCEEDED',
      special: 'SKIPPED',
      fin: 'SUCCEEDED',
    });
    expect(result?.outputs.route).toEqual({ case: null });
    // one_success did not wait for the slow failure.
    const journal = probeJournal.get(handle.workflowId)!;
    const firstStart = journal.find((e) => e.nodeId === 'first' && e.event === 'start')!.at;
    const slowFail = journal.find((e) => e.nodeId === 'slow' && e.event === 'fail')!.at;
    expect(firstStart).toBeLessThan(slowFail);
  });

  serverIt('a switch on a missing value without a default edge still fails', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'switch-no-default',
      nodes: [
        { id: 'route', type: 'switch', config: { expression: 'input.kind' } },
        { id: 'a', type: 'noop' },
      ],
      edges: [{ from: 'route', to: 'a', when: 'a' }],
    };
    const handle = await h.start('switch-no-default', definition, {});
    const { result } = await h.outcome(handle, 'switch-no-default');
    expect(result).toMatchObject({ status: 'FAILED', error: { type: 'ExpressionTypeError' } });
  });
});

describe('templates that give nothing', () => {
  serverIt('a config error names the template and the value it gave', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'empty-template',
      nodes: [{ id: 'get', type: 'http', retry: { maximumAttempts: 1 }, config: { url: '{{ input.baseUrl }}' } }],
    };
    const handle = await h.start('empty-template', definition, { baseUrl: null });
    const { result } = await h.outcome(handle, 'empty-template');
    expect(result?.status).toBe('FAILED');
    expect(result?.error?.type).toBe('ConfigError');
    expect(result?.error?.message).toContain('/url: Expected string, but the template "{{ input.baseUrl }}" gave null');
  });
});

describe('subworkflow timeout', () => {
  serverIt('times the child out and fails the node with SubworkflowTimeout, which error edges see', async (h) => {
    await h.store('wf_sleepy_child', { name: 'sleepy-child', nodes: [{ id: 'nap', type: 'delay', config: { duration: '1h' } }] });
    const definition: WorkflowDefinition = {
      name: 'bounded-child',
      nodes: [
        { id: 'child', type: 'subworkflow', timeout: { startToClose: '2s' }, config: { workflowId: 'wf_sleepy_child' } },
        { id: 'handler', type: 'transform', config: { expression: 'nodes.child.error.type' } },
      ],
      edges: [{ from: 'child', to: 'handler', on: 'error' }],
    };
    const started = Date.now();
    const handle = await h.start('subworkflow-timeout', definition);
    const { result } = await h.outcome(handle, 'subworkflow-timeout');
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.handler).toBe('SubworkflowTimeout');
    const child = h.server.env.client.workflow.getHandle(`${handle.workflowId}.child`);
    expect((await child.describe()).status.name).toBe('TIMED_OUT');
  });
});

async function waitForState(handle: { query: (q: typeof stateQuery) => Promise<DagRunState> }, pred: (s: DagRunState) => boolean) {
  for (let i = 0; i < 200; i++) {
    const state = await handle.query(stateQuery);
    if (pred(state)) return state;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('state never reached');
}
