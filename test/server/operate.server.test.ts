import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { probeNodeType } from '../support/probe-node';
import { startHarness, type Harness } from './harness';

/** Operating runs (DESIGN §6 and issue 27) through the API against a real Temporal server. */
let h: Harness | undefined;
let app: FastifyInstance;
let key: string;
beforeAll(async () => {
  h = await startHarness('operate-runs server tests');
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
  }, 60_000);
}

const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) =>
  app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${key}` } });

interface Attempt {
  attempt: number;
  type: string;
  message: string;
  at: string;
}
interface RunView {
  id: string;
  status: string;
  nodes: { nodeId: string; status: string; attempt: number; output: unknown; failedAttempts: Attempt[] }[];
}
const node = (run: RunView, id: string) => run.nodes.find((n) => n.nodeId === id)!;

async function until(id: string, pred: (run: RunView) => boolean): Promise<RunView> {
  for (let i = 0; i < 400; i++) {
    const run = (await call('GET', `/executions/${id}`)).json() as RunView;
    if (pred(run)) return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`execution ${id} never matched`);
}

async function startStored(name: string, definition: object, input?: unknown): Promise<string> {
  const created = await call('POST', '/workflows', { name, definition: { name, ...definition } });
  expect(created.statusCode, created.body).toBe(201);
  const started = await call('POST', '/executions', { workflowId: created.json().id, input });
  expect(started.statusCode, started.body).toBe(202);
  return started.json().id as string;
}

const quick = { initialInterval: '50ms', backoffCoefficient: 1 };

describe('attempt history', () => {
  serverIt('a node that succeeded on attempt 3 says what attempts 1 and 2 failed with', async () => {
    const id = await startStored('flaky-then-fine', {
      nodes: [{ id: 'flaky', type: 'probe', config: { failTimes: 2, failType: 'UpstreamDown' }, retry: { maximumAttempts: 5, ...quick } }],
    });
    const done = await until(id, (r) => r.status !== 'RUNNING' && node(r, 'flaky').failedAttempts.length === 2);
    expect(done.status).toBe('SUCCEEDED');
    expect(node(done, 'flaky').attempt).toBe(3);
    expect(node(done, 'flaky').failedAttempts.map(({ attempt, type, message }) => ({ attempt, type, message }))).toEqual([
      { attempt: 1, type: 'UpstreamDown', message: 'probe flaky failed on attempt 1' },
      { attempt: 2, type: 'UpstreamDown', message: 'probe flaky failed on attempt 2' },
    ]);
    const [first, second] = node(done, 'flaky').failedAttempts;
    expect(Date.parse(first!.at)).toBeLessThanOrEqual(Date.parse(second!.at));
  });

  serverIt('a retry list (one activity per attempt) and a local node keep their failed attempts too; a failed node keeps its last', async () => {
    const id = await startStored('lists-and-locals', {
      nodes: [
        {
          id: 'listed',
          type: 'probe',
          config: { failTimes: 2, failType: 'RateLimited' },
          retry: [{ errors: ['RateLimited'], maximumAttempts: 4, ...quick }, { errors: ['*'], maximumAttempts: 1 }],
        },
        { id: 'local', type: 'probe', mode: 'local', config: { failTimes: 1 }, retry: { maximumAttempts: 3, ...quick } },
        { id: 'doomed', type: 'probe', config: { failTimes: 9, failType: 'Broken' }, retry: { maximumAttempts: 2, ...quick }, onError: 'continue' },
      ],
    });
    const done = await until(id, (r) => r.status !== 'RUNNING' && node(r, 'doomed').failedAttempts.length === 2);
    expect(node(done, 'listed').failedAttempts.map((a) => [a.attempt, a.type])).toEqual([
      [1, 'RateLimited'],
      [2, 'RateLimited'],
    ]);
    expect(node(done, 'local').failedAttempts.map((a) => [a.attempt, a.type])).toEqual([[1, 'ProbeFailure']]);
    expect(node(done, 'doomed').status).toBe('FAILED');
    expect(node(done, 'doomed').failedAttempts.map((a) => [a.attempt, a.message])).toEqual([
      [1, 'probe doomed failed on attempt 1'],
      [2, 'probe doomed failed on attempt 2'],
    ]);
  });

  serverIt('an attempt that runs past its startToClose is kept as ActivityTimeout', async () => {
    const id = await startStored('slow-then-fast', {
      nodes: [
        {
          id: 'slow',
          type: 'probe',
          config: { sleepMs: 5_000 },
          timeout: { startToClose: '1s' },
          retry: { maximumAttempts: 2, ...quick },
          onError: 'continue',
        },
      ],
    });
    const done = await until(id, (r) => r.status !== 'RUNNING' && node(r, 'slow').failedAttempts.length >= 1);
    expect(node(done, 'slow').failedAttempts[0]).toMatchObject({ attempt: 1, type: 'ActivityTimeout' });
  });

  serverIt("a map body's failing items are not mixed into any node's attempts", async () => {
    const id = await startStored('map-with-flaky-items', {
      nodes: [
        {
          id: 'each',
          type: 'map',
          config: {
            items: '[1, 2, 3]',
            body: { nodes: [{ id: 'item_probe', type: 'probe', config: { failTimes: 1 }, retry: { maximumAttempts: 2, ...quick } }], edges: [] },
          },
        },
      ],
    });
    const done = await until(id, (r) => r.status !== 'RUNNING');
    expect(done.status).toBe('SUCCEEDED');
    expect(node(done, 'each').failedAttempts).toEqual([]);
    expect(await h!.database.db.nodeAttempt.count({ where: { executionId: id } })).toBe(0);
  });
});

describe('map items live', () => {
  serverIt('a 200-item map shows finished items from the first one, long before 250 are done', async () => {
    const id = await startStored('live-items', {
      nodes: [
        {
          id: 'each',
          type: 'map',
          config: {
            items: '[1..200]',
            maxConcurrency: 10,
            body: { nodes: [{ id: 'slow_item', type: 'probe', config: { sleepMs: 150 } }], edges: [] },
          },
        },
      ],
    });
    let seenWhileRunning = 0;
    const writesSeen = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const run = (await call('GET', `/executions/${id}`)).json() as RunView;
      const items = (await call('GET', `/executions/${id}/nodes/each/items?limit=1`)).json() as { counts: { recorded: number } };
      if (node(run, 'each').status === 'RUNNING' && items.counts.recorded > 0) {
        seenWhileRunning = Math.max(seenWhileRunning, items.counts.recorded);
        writesSeen.add(items.counts.recorded);
      }
      if (run.status !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(seenWhileRunning).toBeGreaterThan(0);
    expect(seenWhileRunning).toBeLessThan(200);
    expect(writesSeen.size).toBeGreaterThan(1); // counts grew step by step, not all at the end
    const done = (await call('GET', `/executions/${id}/nodes/each/items?limit=1`)).json() as { counts: { recorded: number; succeeded: number } };
    expect(done.counts).toMatchObject({ recorded: 200, succeeded: 200 });
  });
});
