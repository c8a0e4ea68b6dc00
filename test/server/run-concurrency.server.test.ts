import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import type { WorkflowDefinition } from '../../src/domain/definition';
import type { dagWorkflow } from '../../src/workflows';
import { cancelSignal, stateQuery } from '../../src/contracts/dag-workflow';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { executionDetail } from '../../src/services/execution-view';
import { eventually, serverTests, startHarness, type Harness } from './harness';
import { startKeyedTarget, type KeyedTarget } from '../support/keyed-target';
import { createLimiterMethods } from '../../src/temporal/limiters';
import { listLimitsInUse } from '../../src/services/limits';
import type { TemporalGateway } from '../../src/temporal/gateway';

// Issue 24 item 2 on a real Temporal server: run-level concurrency (QUEUED runs, FIFO per key,
// drop, replace, cancel while queued, a slot freed after terminate), observed at a loopback
// target that counts requests in flight per key.

let h: Harness | undefined;
let target: KeyedTarget;
beforeAll(async () => {
  h = await startHarness('run concurrency server tests');
  if (h) target = await startKeyedTarget();
}, 60_000);
afterAll(async () => {
  await target?.close();
  await h?.close();
});
const serverIt = serverTests(() => h, 90_000);

/** A run of a stored workflow with `input` (and a runTimeout override). */
const startStored = (h: Harness, workflowId: string, input: Record<string, unknown> = {}, runTimeout?: string) =>
  h.startStored(workflowId, { input, ...(runTimeout && { runTimeout }) });

/** One slow http node whose target key and tag come from the run's input. */
function queuedWorkflow(onLimit: 'queue' | 'drop' | 'replace', ms = 800, extra: Record<string, unknown> = {}): WorkflowDefinition {
  return {
    name: `run-concurrency-${onLimit}`,
    concurrency: { key: '{{ input.customer }}', limit: 1, onLimit },
    nodes: [{ id: 'call', type: 'http', config: { method: 'GET', url: `{{ '${target.base}/slow?ms=${ms}&key=' & input.customer & '&tag=' & input.tag }}` } }],
    ...extra,
  } as WorkflowDefinition;
}

async function mirrorStatus(h: Harness, runId: string): Promise<string | undefined> {
  return (await h.database.db.execution.findUnique({ where: { id: runId } }))?.status;
}

const tagsAt = (key: string) => (target.starts.get(key) ?? []).map((s) => s.tag);

describe('run-level concurrency', () => {
  serverIt('queue: one run per key past QUEUED, first come first served, QUEUED in the mirror', async (h) => {
    const wf = await h.storeFor('rq-tenant-a', queuedWorkflow('queue'));
    const key = `c-${randomUUID()}`;
    const runs: WorkflowHandle<typeof dagWorkflow>[] = [];
    for (const tag of ['r1', 'r2', 'r3']) {
      runs.push(await startStored(h, wf, { customer: key, tag }));
      await new Promise((r) => setTimeout(r, 300)); // arrival order is the order asked
    }
    const other = await startStored(h, wf, { customer: `${key}-other`, tag: 'o1' });
    expect(await eventually(async () => ((await mirrorStatus(h, runs[2]!.workflowId)) === 'QUEUED' ? true : undefined))).toBe(true);
    const results = await Promise.all(runs.map((r) => r.result()));
    expect(results.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    expect(target.maxInFlight.get(key)).toBe(1);
    expect(tagsAt(key)).toEqual(['r1', 'r2', 'r3']);
    // Another key is not held up by this one.
    expect((await other.result()).status).toBe('SUCCEEDED');
    expect(await mirrorStatus(h, runs[2]!.workflowId)).toBe('SUCCEEDED');
  });

  serverIt('cancelling a queued run ends it CANCELLED without running a node (cleanup included)', async (h) => {
    const definition = queuedWorkflow('queue', 2_000);
    definition.nodes.push({ id: 'cleanup', type: 'http', trigger: 'all_done', config: { method: 'GET', url: `{{ '${target.base}/slow?ms=10&key=' & input.customer & '-cleanup&tag=' & input.tag }}` } } as never);
    definition.edges = [{ from: 'call', to: 'cleanup' }];
    const wf = await h.storeFor('rq-tenant-a', definition);
    const key = `c-${randomUUID()}`;
    const holder = await startStored(h, wf, { customer: key, tag: 'holder' });
    await eventually(async () => (tagsAt(key).length === 1 ? true : undefined));
    const waiter = await startStored(h, wf, { customer: key, tag: 'waiter' });
    await eventually(async () => ((await mirrorStatus(h, waiter.workflowId)) === 'QUEUED' ? true : undefined));
    // The workflow's own state query (GET /executions/:id?live=1 merges it) says QUEUED too, not RUNNING.
    expect((await waiter.query(stateQuery)).status).toBe('QUEUED');
    const tenant = await h.database.db.tenant.findUniqueOrThrow({ where: { name: 'rq-tenant-a' } });
    const gateway = createTemporalGateway(h.server.env.client, h.taskQueue);
    expect((await executionDetail({ db: h.database.db, temporal: gateway }, tenant.id, waiter.workflowId, { live: true })).status).toBe('QUEUED');
    await waiter.signal(cancelSignal, { reason: 'test: cancel while queued' });
    const result = await waiter.result();
    expect(result.status).toBe('CANCELLED');
    expect((await holder.result()).status).toBe('SUCCEEDED');
    expect(tagsAt(key)).toEqual(['holder']);
    expect(tagsAt(`${key}-cleanup`)).toEqual(['holder']);
    const nodes = await h.database.db.nodeRun.findMany({ where: { executionId: waiter.workflowId } });
    expect(nodes.every((n) => n.status === 'CANCELLED')).toBe(true);
  });

  serverIt('drop: a run that finds no free slot ends at once, running nothing', async (h) => {
    const wf = await h.storeFor('rq-tenant-a', queuedWorkflow('drop', 1_500));
    const key = `c-${randomUUID()}`;
    const holder = await startStored(h, wf, { customer: key, tag: 'holder' });
    await eventually(async () => (tagsAt(key).length === 1 ? true : undefined));
    const dropped = await startStored(h, wf, { customer: key, tag: 'dropped' });
    const result = await dropped.result();
    expect(result.status).toBe('CANCELLED');
    expect(result.error?.message).toMatch(/dropped/);
    expect((await holder.result()).status).toBe('SUCCEEDED');
    expect(tagsAt(key)).toEqual(['holder']);
    // Once the holder is done, the key is free again.
    expect((await (await startStored(h, wf, { customer: key, tag: 'later' })).result()).status).toBe('SUCCEEDED');
  });

  serverIt('replace: the run holding the key is cancelled and the new run takes its slot', async (h) => {
    const wf = await h.storeFor('rq-tenant-a', queuedWorkflow('replace', 5_000));
    const key = `c-${randomUUID()}`;
    const old = await startStored(h, wf, { customer: key, tag: 'old' });
    await eventually(async () => (tagsAt(key).length === 1 ? true : undefined));
    const latest = await startStored(h, wf, { customer: key, tag: 'new' });
    const oldResult = await old.result();
    expect(oldResult.status).toBe('CANCELLED');
    expect(oldResult.error?.message).toMatch(/replaced/);
    expect((await latest.result()).status).toBe('SUCCEEDED');
    expect(tagsAt(key)).toEqual(['old', 'new']);
  });

  serverIt('runTimeout counts queue time: a run still queued at its timeout ends TIMED_OUT, running nothing', async (h) => {
    const wf = await h.storeFor('rq-tenant-a', queuedWorkflow('queue', 4_000));
    const key = `c-${randomUUID()}`;
    const holder = await startStored(h, wf, { customer: key, tag: 'holder' });
    await eventually(async () => (tagsAt(key).length === 1 ? true : undefined));
    const late = await startStored(h, wf, { customer: key, tag: 'late' }, '1500ms');
    await expect(late.result()).rejects.toThrow();
    expect(await eventually(async () => ((await mirrorStatus(h, late.workflowId)) === 'TIMED_OUT' ? true : undefined))).toBe(true);
    expect((await holder.result()).status).toBe('SUCCEEDED');
    expect(tagsAt(key)).toEqual(['holder']);
  });

  serverIt('a run slot held by a terminated run is freed within the 30 s lease', async (h) => {
    const wf = await h.storeFor('rq-tenant-a', queuedWorkflow('queue', 60_000));
    const key = `c-${randomUUID()}`;
    const holder = await startStored(h, wf, { customer: key, tag: 'holder' });
    await eventually(async () => (tagsAt(key).length === 1 ? true : undefined));
    const next = await startStored(h, wf, { customer: `${key}`, tag: 'next', short: true });
    await eventually(async () => ((await mirrorStatus(h, next.workflowId)) === 'QUEUED' ? true : undefined));
    const terminatedAt = Date.now();
    await holder.terminate('test: holder terminated');
    await eventually(async () => (tagsAt(key).length === 2 ? true : undefined), 45_000);
    expect(Date.now() - terminatedAt).toBeLessThan(30_000 + 5_000);
    await next.terminate('test: done');
  }, 120_000);

  serverIt('two tenants: the same workflow shape and key never share a slot', async (h) => {
    const key = `c-${randomUUID()}`;
    const a = await h.storeFor('rq-tenant-a', queuedWorkflow('queue', 1_500));
    const b = await h.storeFor('rq-tenant-b', queuedWorkflow('queue', 1_500));
    const runs = [await startStored(h, a, { customer: key, tag: 'a' }), await startStored(h, b, { customer: key, tag: 'b' })];
    await Promise.all(runs.map((r) => r.result()));
    expect(target.maxInFlight.get(key)).toBe(2);
  });

  serverIt('GET /limits data: the tenant sees its run keys with in-flight and waiting counts, another tenant sees none of them', async (h) => {
    const wf = await h.storeFor('rq-tenant-c', queuedWorkflow('queue', 3_000));
    await h.storeFor('rq-tenant-d', queuedWorkflow('queue', 10));
    const [c, d] = await Promise.all(['rq-tenant-c', 'rq-tenant-d'].map((name) => h.database.db.tenant.findUniqueOrThrow({ where: { name } })));
    const key = `c-${randomUUID()}`;
    const runs = [await startStored(h, wf, { customer: key, tag: 'l1' })];
    await eventually(async () => (tagsAt(key).length === 1 ? true : undefined));
    runs.push(await startStored(h, wf, { customer: key, tag: 'l2' }));
    await eventually(async () => ((await mirrorStatus(h, runs[1]!.workflowId)) === 'QUEUED' ? true : undefined));
    const gateway = createLimiterMethods(h.server.env.client) as TemporalGateway;
    const items = await listLimitsInUse(gateway, c!.id);
    expect(items).toContainEqual({ scope: 'run', kind: 'run', workflowId: wf, key, limit: 1, inFlight: 1, waiting: 1 });
    expect((await listLimitsInUse(gateway, d!.id)).some((i) => i.key === key)).toBe(false);
    await Promise.all(runs.map((r) => r.result()));
  });
});
