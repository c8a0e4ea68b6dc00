import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { limiterWorkflowId } from '../../src/domain/flow-control';
import type { dagWorkflow } from '../../src/workflows';
import { DAG_WORKFLOW_TYPE, cancelSignal, stateQuery } from '../../src/contracts/dag-workflow';
import { limiterStateQuery } from '../../src/contracts/limiter';
import { startHarness, type Harness } from './harness';

// Issue 24 items 3 and 5 on a real Temporal server: node-level concurrency and rateLimit keyed
// across a tenant's runs, observed at a loopback target that counts requests in flight per key.

let h: Harness | undefined;
let target: Target;
beforeAll(async () => {
  h = await startHarness('node limits server tests');
  if (h) target = await startTarget();
}, 60_000);
afterAll(async () => {
  await target?.close();
  await h?.close();
});

function serverIt(name: string, fn: (h: Harness) => Promise<void>, timeout = 90_000): void {
  it(name, async (ctx) => {
    if (!h) return ctx.skip();
    await fn(h);
  }, timeout);
}

/** A target on 127.0.0.1: `/slow?key=K&ms=N&tag=T` answers after N ms and tracks, per key, what is in flight. */
interface Target {
  base: string;
  inFlight: Map<string, number>;
  maxInFlight: Map<string, number>;
  /** Per key: [tag, start ms] in arrival order. */
  starts: Map<string, { tag: string; at: number }[]>;
  /** Per tag: how many times it failed on purpose (`failFirst=1` fails each tag's first request). */
  failed: Map<string, number>;
  close(): Promise<void>;
}

async function startTarget(): Promise<Target> {
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  const starts = new Map<string, { tag: string; at: number }[]>();
  const failed = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const key = url.searchParams.get('key') ?? '';
    const tag = url.searchParams.get('tag') ?? '';
    const ms = Number(url.searchParams.get('ms') ?? 200);
    const now = (inFlight.get(key) ?? 0) + 1;
    inFlight.set(key, now);
    maxInFlight.set(key, Math.max(maxInFlight.get(key) ?? 0, now));
    starts.set(key, [...(starts.get(key) ?? []), { tag, at: Date.now() }]);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
    };
    res.on('close', finish);
    setTimeout(() => {
      finish();
      const failFirst = url.searchParams.get('failFirst') === '1' && !failed.has(tag);
      if (failFirst) failed.set(tag, 1);
      res.statusCode = failFirst ? 500 : 200;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ key, tag }));
    }, ms);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    inFlight,
    maxInFlight,
    starts,
    failed,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** Stores a workflow for a tenant (created if needed) as the API would. */
async function storeFor(h: Harness, tenantName: string, definition: WorkflowDefinition): Promise<string> {
  const db = h.database.db;
  const tenant = await db.tenant.upsert({ where: { name: tenantName }, create: { id: randomUUID(), name: tenantName }, update: {} });
  const workflowId = `wf-${randomUUID()}`;
  await db.workflow.create({ data: { id: workflowId, tenantId: tenant.id, name: definition.name, latestVersion: 1 } });
  await db.workflowVersion.create({ data: { workflowId, version: 1, definition: definition as object } });
  return workflowId;
}

function startStored(h: Harness, workflowId: string): Promise<WorkflowHandle<typeof dagWorkflow>> {
  return h.server.env.client.workflow.start<typeof dagWorkflow>(DAG_WORKFLOW_TYPE, {
    taskQueue: h.taskQueue,
    workflowId: `run-${randomUUID()}`,
    args: [{ workflowId }],
  });
}

const slowNode = (id: string, key: string, tag: string, limits: Record<string, unknown>, ms = 300, extra = '') => ({
  id,
  type: 'http',
  config: { method: 'GET', url: `${target.base}/slow?key=${key}&ms=${ms}&tag=${tag}${extra}` },
  ...limits,
});

async function eventually<T>(fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const nodeStatus = async (handle: WorkflowHandle<typeof dagWorkflow>, nodeId: string) => (await handle.query(stateQuery)).nodes[nodeId];

describe('node-level concurrency and rateLimit across runs', () => {
  serverIt('at most `limit` attempts with one key are in flight across runs; waiting nodes say why', async (h) => {
    const key = `k-${randomUUID()}`;
    const limits = { concurrency: { key: 'shared-api', limit: 2 } };
    const wf = await storeFor(h, 'acme', { name: 'c', nodes: [slowNode('a', key, 'a', limits, 400), slowNode('b', key, 'b', limits, 400)] });
    const runs = await Promise.all([0, 1, 2].map(() => startStored(h, wf)));
    const waiting = await eventually(async () => {
      for (const run of runs) {
        const state = await run.query(stateQuery);
        const node = Object.values(state.nodes).find((n) => n.status === 'WAITING');
        if (node) return node;
      }
      return undefined;
    });
    expect(waiting.waitingFor).toEqual({ kind: 'concurrency', key: 'shared-api' });
    const results = await Promise.all(runs.map((r) => r.result()));
    expect(results.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    expect(target.starts.get(key)).toHaveLength(6);
    expect(target.maxInFlight.get(key)).toBe(2);
  });

  serverIt('first come first served; cancelling a waiting node runs nothing and frees its place', async (h) => {
    const key = `k-${randomUUID()}`;
    const tags = ['r1', 'r2', 'r3', 'r4'];
    const handles: WorkflowHandle<typeof dagWorkflow>[] = [];
    for (const tag of tags) {
      const wf = await storeFor(h, 'acme', { name: tag, nodes: [slowNode('n', key, tag, { concurrency: { key: `fifo-${key}`, limit: 1 } }, 500)] });
      const handle = await startStored(h, wf);
      handles.push(handle);
      // Each asks only once the one before it is holding or queued.
      await eventually(async () => ((await nodeStatus(handle, 'n'))?.status === 'PENDING' ? undefined : true));
      await eventually(async () => ((await nodeStatus(handle, 'n'))?.status === 'RUNNING' || (await nodeStatus(handle, 'n'))?.status === 'WAITING' ? true : undefined));
    }
    await handles[2]!.signal(cancelSignal, { reason: 'test' });
    const results = await Promise.all(handles.map((r) => r.result().catch((err: unknown) => err)));
    expect((results[2] as { status?: string }).status).toBe('CANCELLED');
    expect(target.starts.get(key)!.map((s) => s.tag)).toEqual(['r1', 'r2', 'r4']);
    expect(target.maxInFlight.get(key)).toBe(1);
  });

  serverIt('map items count one each, and retries take a slot per attempt', async (h) => {
    const key = `k-${randomUUID()}`;
    const wf = await storeFor(h, 'acme', {
      name: 'm',
      nodes: [
        {
          id: 'each',
          type: 'map',
          config: {
            items: '[1,2,3,4,5]',
            body: {
              nodes: [{
                id: 'leaf',
                type: 'http',
                config: { method: 'GET', url: `${target.base}/slow?key=${key}&ms=300&failFirst=1&tag={{ $string(item) }}` },
                retry: { maximumAttempts: 3, initialInterval: '100ms' },
                concurrency: { key: `map-${key}`, limit: 2 },
              }],
              edges: [],
            },
          },
        },
      ],
    });
    const result = await (await startStored(h, wf)).result();
    expect(result.status).toBe('SUCCEEDED');
    expect(target.starts.get(key)).toHaveLength(10); // 5 items x (one failure + one success)
    expect(target.maxInFlight.get(key)).toBe(2);
  });

  serverIt('rateLimit: at most `limit` starts in any window of `per`', async (h) => {
    const key = `k-${randomUUID()}`;
    const limits = { rateLimit: { key: `rate-${key}`, limit: 2, per: '1s' } };
    const wf = await storeFor(h, 'acme', { name: 'r', nodes: ['a', 'b', 'c'].map((id) => slowNode(id, key, id, limits, 10)) });
    const runs = await Promise.all([0, 1].map(() => startStored(h, wf)));
    expect((await Promise.all(runs.map((r) => r.result()))).map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const times = target.starts.get(key)!.map((s) => s.at).sort((x, y) => x - y);
    expect(times).toHaveLength(6);
    // Grants are 1 s apart per pair in workflow time; arrival at the target may jitter a little.
    for (let i = 2; i < times.length; i++) expect(times[i]! - times[i - 2]!).toBeGreaterThan(900);
  });

  serverIt('a slot held by a terminated run is freed within its heartbeat timeout', async (h) => {
    const key = `k-${randomUUID()}`;
    const limits = { concurrency: { key: `term-${key}`, limit: 1 }, timeout: { heartbeat: '2s', startToClose: '1m' } };
    const holderWf = await storeFor(h, 'acme', { name: 'holder', nodes: [slowNode('n', key, 'holder', limits, 30_000)] });
    const nextWf = await storeFor(h, 'acme', { name: 'next', nodes: [slowNode('n', key, 'next', limits, 50)] });
    const holder = await startStored(h, holderWf);
    await eventually(async () => (target.starts.get(key)?.length ? true : undefined));
    const next = await startStored(h, nextWf);
    await eventually(async () => ((await nodeStatus(next, 'n'))?.status === 'WAITING' ? true : undefined));
    const terminatedAt = Date.now();
    await holder.terminate('test: holder terminated');
    expect((await next.result()).status).toBe('SUCCEEDED');
    const nextStart = target.starts.get(key)!.find((s) => s.tag === 'next')!.at;
    expect(nextStart - terminatedAt).toBeLessThan(2_000 + 3_000);
  });

  serverIt('two tenants using the same key name are limited independently', async (h) => {
    const key = `k-${randomUUID()}`;
    const limits = { concurrency: { key: 'same-name', limit: 1 } };
    const a = await storeFor(h, 'tenant-a', { name: 'a', nodes: [slowNode('n', key, 'a', limits, 800)] });
    const b = await storeFor(h, 'tenant-b', { name: 'b', nodes: [slowNode('n', key, 'b', limits, 800)] });
    const runs = await Promise.all([startStored(h, a), startStored(h, b)]);
    expect((await Promise.all(runs.map((r) => r.result()))).map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(target.maxInFlight.get(key)).toBe(2);
    const tenants = await h.database.db.tenant.findMany({ where: { name: { in: ['tenant-a', 'tenant-b'] } } });
    const ids = tenants.map((t) => limiterWorkflowId(t.id, 'concurrency', 'same-name'));
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) {
      const snapshot = await h.server.env.client.workflow.getHandle(id).query(limiterStateQuery);
      expect(snapshot).toMatchObject({ key: 'same-name', inFlight: 0, waiting: 0 });
    }
  });
});
