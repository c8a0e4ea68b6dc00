import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createNodeRegistry } from '../../src/activities';
import { startDemoTarget, type DemoTarget } from '../../src/dev/demo-target';
import { createApiKey } from '../../src/services/api-keys';
import { ExecutionEventHub } from '../../src/persistence/execution-event-hub';
import { SseClient } from '../support/sse-client';
import { startHarness, type Harness } from './harness';

let h: Harness | undefined;
let app: FastifyInstance;
let events: ExecutionEventHub;
let demo: DemoTarget;
let key: string;
let base: string;
beforeAll(async () => {
  h = await startHarness('live truth (retrying nodes, approval prompts) server tests');
  if (!h) return;
  events = new ExecutionEventHub();
  await events.start(h.database.url);
  app = await buildApp({ db: h.database.db, temporal: createTemporalGateway(h.server.env.client, h.taskQueue), events, catalog: createNodeRegistry().catalog() });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  demo = await startDemoTarget(0);
  ({ key } = await createApiKey(h.database.db, 'acme'));
});
afterAll(async () => {
  await app?.close();
  await events?.close();
  await demo?.close();
  await h?.close();
});

function serverIt(name: string, fn: () => Promise<void>): void {
  it(name, async (ctx) => {
    if (!h) return ctx.skip();
    await fn();
  }, 60_000);
}

const call = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
  app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${key}` } });

interface LiveNode {
  nodeId: string;
  status: string;
  attempt: number;
  retry?: { state: string; attempt: number; maximumAttempts: number; lastFailure: { message: string } | null; nextAttemptAt: string | null };
  approval?: { message: string | null; deadline: string | null; onTimeout: string };
  startedAt: string | null;
}
interface LiveRun {
  status: string;
  nodes: LiveNode[];
}

async function until<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function start(name: string, definition: object, input?: unknown): Promise<string> {
  const created = await call('POST', '/workflows', { name, definition: { name, ...definition } });
  expect(created.statusCode, created.body).toBe(201);
  const started = await call('POST', '/executions', { workflowId: created.json().id, input });
  expect(started.statusCode, started.body).toBe(202);
  return started.json().id as string;
}

describe('what a run shows while it is in flight', () => {
  serverIt("a retrying node shows Temporal's attempt, last failure and next retry time in ?live=1 and as SSE retry events", async () => {
    const id = await start('flaky', {
      nodes: [
        {
          id: 'call',
          type: 'http',
          config: { url: `${demo.baseUrl}/flaky/live-${Date.now()}?failures=3` },
          retry: { maximumAttempts: 6, initialInterval: '1s', backoffCoefficient: 1 },
        },
      ],
    });
    const stream = await SseClient.open(`${base}/executions/${id}/events`, { authorization: `Bearer ${key}` });
    try {
      const retrying = await until('a retrying node in ?live=1', async () => {
        const run = (await call('GET', `/executions/${id}?live=1`)).json() as LiveRun;
        const node = run.nodes[0]!;
        return node.retry && node.retry.attempt >= 2 && node.retry.lastFailure ? node : undefined;
      });
      expect(retrying.status).toBe('RUNNING');
      expect(retrying.attempt).toBe(retrying.retry!.attempt);
      expect(retrying.retry).toMatchObject({ maximumAttempts: 6, lastFailure: { message: expect.stringMatching(/503/) } });
      if (retrying.retry!.state === 'SCHEDULED') expect(Date.parse(retrying.retry!.nextAttemptAt!)).toBeGreaterThan(Date.now() - 5_000);

      let retryEvent: { nodeId: string; attempt: number; lastFailure: { message: string } | null } | undefined;
      while (!retryEvent) {
        const frame = await stream.next({ timeoutMs: 15_000 });
        if (frame.event === 'retry') retryEvent = JSON.parse(frame.data!) as typeof retryEvent;
      }
      expect(retryEvent).toMatchObject({ nodeId: 'call', attempt: expect.any(Number), lastFailure: { message: expect.stringMatching(/503/) } });

      const done = await until('the run to finish', async () => {
        const run = (await call('GET', `/executions/${id}`)).json() as LiveRun;
        return run.status === 'RUNNING' ? undefined : run;
      });
      expect(done.status).toBe('SUCCEEDED');
      expect(done.nodes[0]).toMatchObject({ attempt: 4 });
      expect(done.nodes[0]!.retry).toBeUndefined();
    } finally {
      stream.close();
    }
  });

  serverIt('a waiting approval shows its rendered message and deadline, and the run is listed under waiting=approval', async () => {
    const id = await start(
      'gate',
      {
        nodes: [
          { id: 'prep', type: 'transform', config: { expression: '{ "who": input.requestedBy }' } },
          { id: 'sign_off', type: 'approval', config: { timeout: '2h', message: 'Deploy {{ input.change }} for {{ nodes.prep.output.who }}?' } },
        ],
        edges: [{ from: 'prep', to: 'sign_off' }],
      },
      { change: 'chg-7', requestedBy: 'dana' },
    );
    const waiting = await until('the approval to wait', async () => {
      const run = (await call('GET', `/executions/${id}`)).json() as LiveRun;
      const node = run.nodes.find((n) => n.nodeId === 'sign_off')!;
      return node.status === 'WAITING' ? node : undefined;
    });
    expect(waiting.approval).toEqual({
      message: 'Deploy chg-7 for dana?',
      deadline: new Date(Date.parse(waiting.startedAt!) + 2 * 3600_000).toISOString(),
      onTimeout: 'reject',
    });

    // The event stream says the same: its snapshot carries the rendered prompt.
    const stream = await SseClient.open(`${base}/executions/${id}/events`, { authorization: `Bearer ${key}` });
    try {
      const snapshot = await stream.next({ timeoutMs: 10_000 });
      expect(snapshot.event).toBe('snapshot');
      const nodes = (JSON.parse(snapshot.data!) as { nodes: LiveNode[] }).nodes;
      expect(nodes.find((n) => n.nodeId === 'sign_off')?.approval).toEqual(waiting.approval);
    } finally {
      stream.close();
    }

    const listed = (await call('GET', '/executions?waiting=approval&limit=100')).json() as { items: { id: string }[] };
    expect(listed.items.map((r) => r.id)).toContain(id);
    expect((await call('POST', `/executions/${id}/nodes/sign_off/approve`, { approved: true })).statusCode).toBe(202);
    await until('the run to finish', async () => {
      const run = (await call('GET', `/executions/${id}`)).json() as LiveRun;
      return run.status === 'SUCCEEDED' ? run : undefined;
    });
    const after = (await call('GET', '/executions?waiting=approval&limit=100')).json() as { items: { id: string }[] };
    expect(after.items.map((r) => r.id)).not.toContain(id);
  });
});
