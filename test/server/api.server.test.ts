import { afterAll, beforeAll, describe, expect } from 'vitest';
import { probeJournal } from '../support/probe-node';
import { serverTests, startApiHarness, type ApiHarness } from './harness';

let h: ApiHarness | undefined;
beforeAll(async () => {
  h = await startApiHarness('API end-to-end server tests');
});
afterAll(async () => {
  await h?.close();
});
const serverIt = serverTests(() => h);
const call: ApiHarness['call'] = (method, url, payload) => h!.call(method, url, payload);
const until = (id: string, pred: (run: RunView) => boolean) => h!.untilRun(id, pred, 300);

interface RunView {
  id: string;
  status: string;
  trigger: string;
  progress: { total: number; done: number };
  nodes: { nodeId: string; status: string; attempt: number; output: unknown }[];
}
const node = (run: RunView, id: string) => run.nodes.find((n) => n.nodeId === id)!;

describe('create → start → watch → approve / cancel / retry, through the API and a real server', () => {
  serverIt('approves a waiting node and watches the run finish in GET /executions/:id', async () => {
    const created = await call('POST', '/workflows', {
      name: 'gated',
      definition: {
        name: 'gated',
        nodes: [
          { id: 'prepare', type: 'probe', config: { value: '{{ input.n }}' } },
          { id: 'gate', type: 'approval' },
          { id: 'ship', type: 'transform', config: { expression: 'nodes.prepare.output.value * 2' } },
        ],
        edges: [
          { from: 'prepare', to: 'gate' },
          { from: 'gate', to: 'ship' },
        ],
      },
    });
    expect(created.statusCode).toBe(201);
    const workflowId = created.json().id as string;
    const started = await call('POST', '/executions', { workflowId, input: { n: 21 }, idempotencyKey: 'order-1' });
    expect(started.statusCode).toBe(202);
    const id = started.json().id as string;
    expect((await call('POST', '/executions', { workflowId, input: { n: 21 }, idempotencyKey: 'order-1' })).json().id).toBe(id);

    const waiting = await until(id, (r) => node(r, 'gate')?.status === 'WAITING');
    expect(node(waiting, 'prepare').status).toBe('SUCCEEDED');
    expect((await call('POST', `/executions/${id}/nodes/gate/approve`, { approved: true, by: 'alice' })).statusCode).toBe(202);
    const done = await until(id, (r) => r.status !== 'RUNNING');
    expect(done.status).toBe('SUCCEEDED');
    expect(done.trigger).toBe('MANUAL');
    expect(done.progress).toEqual({ total: 3, done: 3 });
    expect(node(done, 'ship').output).toBe(42);
    expect((await call('POST', `/executions/${id}/cancel`, {})).statusCode).toBe(409);
  });

  serverIt('cancels a running run', async () => {
    const created = await call('POST', '/workflows', {
      name: 'sleepy',
      definition: { name: 'sleepy', nodes: [{ id: 'nap', type: 'delay', config: { duration: '1h' } }] },
    });
    const id = (await call('POST', '/executions', { workflowId: created.json().id })).json().id as string;
    await until(id, (r) => node(r, 'nap')?.status === 'WAITING');
    const live = (await call('GET', `/executions/${id}?live=1`)).json();
    expect(live.live).toBe(true);
    expect((await call('POST', `/executions/${id}/cancel`, { reason: 'not today' })).statusCode).toBe(202);
    const done = await until(id, (r) => r.status !== 'RUNNING');
    expect(done.status).toBe('CANCELLED');
    expect(node(done, 'nap').status).toBe('CANCELLED');
  });

  serverIt('retries a failed run, reusing what succeeded', async () => {
    const created = await call('POST', '/workflows', {
      name: 'flaky-end',
      definition: {
        name: 'flaky-end',
        nodes: [
          { id: 'costly', type: 'probe', config: { value: 'done once' } },
          { id: 'fragile', type: 'fail', config: { message: 'downstream was down' } },
        ],
        edges: [{ from: 'costly', to: 'fragile' }],
      },
    });
    const id = (await call('POST', '/executions', { workflowId: created.json().id })).json().id as string;
    expect((await until(id, (r) => r.status !== 'RUNNING')).status).toBe('FAILED');
    const retried = await call('POST', `/executions/${id}/retry`, {});
    expect(retried.statusCode).toBe(202);
    const retryId = retried.json().id as string;
    const second = await until(retryId, (r) => r.status !== 'RUNNING');
    expect(second.trigger).toBe('RETRY');
    expect(node(second, 'costly')).toMatchObject({ status: 'SUCCEEDED', attempt: 0, output: { value: 'done once', attempt: 1 } });
    expect(probeJournal.get(retryId)).toBeUndefined();
  });
});
