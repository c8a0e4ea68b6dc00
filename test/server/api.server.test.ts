import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { probeJournal, probeNodeType } from '../support/probe-node';
import { startHarness, type Harness } from './harness';

let h: Harness | undefined;
let app: FastifyInstance;
let key: string;
beforeAll(async () => {
  h = await startHarness('API end-to-end server tests');
  if (!h) return;
  app = await buildApp({
    db: h.database.db,
    temporal: createTemporalGateway(h.server.env.client, h.taskQueue),
    catalog: createNodeRegistry([probeNodeType]).catalog(),
  });
  ({ key } = await createApiKey(h.database.db, 'acme'));
});
afterAll(async () => {
  await app?.close();
  await h?.close();
});

function serverIt(name: string, fn: () => Promise<void>): void {
  it(name, async (ctx) => {
    if (!h) return ctx.skip();
    await fn();
  });
}

const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) =>
  app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${key}` } });

async function until(id: string, pred: (run: RunView) => boolean): Promise<RunView> {
  for (let i = 0; i < 300; i++) {
    const run = (await call('GET', `/executions/${id}`)).json() as RunView;
    if (pred(run)) return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`execution ${id} never matched`);
}

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
