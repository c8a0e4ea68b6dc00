import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway, type TemporalGateway } from '../../src/temporal/gateway';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { createSchedule, deleteSchedule, getSchedule, triggerSchedule } from '../../src/services/schedules';
import { probeNodeType } from '../support/probe-node';
import { startHarness, type Harness } from './harness';

// Issue 24 / DESIGN §5, onLimit "drop" on a real Temporal server through the API: the start is
// refused before a run exists (409 CONCURRENCY_LIMITED, no row), exactly even when starts race
// (the key's limiter workflow decides); a webhook's dropped call answers DROPPED and is counted on
// the workflow; a schedule's dropped start leaves no run and is counted on the schedule.

let h: Harness | undefined;
let app: FastifyInstance;
let temporal: TemporalGateway;
let key: string;
let target: { base: string; hits: Map<string, number>; close(): Promise<void> };

beforeAll(async () => {
  h = await startHarness('onLimit drop server tests');
  if (!h) return;
  temporal = createTemporalGateway(h.server.env.client, h.taskQueue);
  app = await buildApp({ db: h.database.db, temporal, catalog: createNodeRegistry([probeNodeType]).catalog() });
  ({ key } = await createApiKey(h.database.db, 'acme'));
  target = await startTarget();
}, 60_000);
afterAll(async () => {
  await app?.close();
  await target?.close();
  await h?.close();
});

function serverIt(name: string, fn: (h: Harness) => Promise<void>, timeout = 90_000): void {
  it(name, async (ctx) => {
    if (!h) return ctx.skip();
    await fn(h);
  }, timeout);
}

/** `/slow?key=K&ms=N` answers after N ms; counts requests per key. */
async function startTarget() {
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const k = url.searchParams.get('key') ?? '';
    hits.set(k, (hits.get(k) ?? 0) + 1);
    setTimeout(() => res.setHeader('content-type', 'application/json').end(JSON.stringify({ key: k })), Number(url.searchParams.get('ms') ?? 100));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

const call = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
  app.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${key}` } });

async function createDropWorkflow(ms: number): Promise<string> {
  const created = await call('POST', '/workflows', {
    name: `drop-${ms}`,
    definition: {
      name: `drop-${ms}`,
      concurrency: { key: '{{ input.customer }}', limit: 1, onLimit: 'drop' },
      nodes: [{ id: 'call', type: 'http', config: { method: 'GET', url: `{{ '${target.base}/slow?ms=${ms}&key=' & input.customer }}` } }],
    },
  });
  expect(created.statusCode, created.body).toBe(201);
  return created.json().id as string;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const runsOf = (h: Harness, workflowId: string) => h.database.db.execution.findMany({ where: { workflowId } });

describe('run-level concurrency, onLimit drop', () => {
  serverIt('POST /executions: the second start with limit 1 is 409 CONCURRENCY_LIMITED naming the key, and creates no run', async (h) => {
    const wf = await createDropWorkflow(1_500);
    const customer = `cust-${Date.now()}`;
    const first = await call('POST', '/executions', { workflowId: wf, input: { customer } });
    expect(first.statusCode, first.body).toBe(202);
    const second = await call('POST', '/executions', { workflowId: wf, input: { customer } });
    expect(second.statusCode, second.body).toBe(409);
    expect(second.json().error.code).toBe('CONCURRENCY_LIMITED');
    expect(second.json().error.message).toContain(`"${customer}"`);
    expect(second.json().error.details).toEqual({ workflowId: wf, key: customer, limit: 1 });
    // Another key is not limited by this one.
    expect((await call('POST', '/executions', { workflowId: wf, input: { customer: `${customer}-b` } })).statusCode).toBe(202);
    expect((await runsOf(h, wf)).length).toBe(2);
    const id = first.json().id as string;
    await until('the first run to finish', async () => (await call('GET', `/executions/${id}`)).json().status === 'SUCCEEDED');
    expect(target.hits.get(customer)).toBe(1);
    // Its slot is free again once it finished.
    const later = await call('POST', '/executions', { workflowId: wf, input: { customer } });
    expect(later.statusCode, later.body).toBe(202);
    // A rerun of the finished run while the later one holds the key is dropped the same way, and counted as such.
    const rerun = await call('POST', `/executions/${id}/rerun`, { fromNodes: ['call'] });
    expect(rerun.statusCode, rerun.body).toBe(409);
    expect(rerun.json().error.code).toBe('CONCURRENCY_LIMITED');
    await until('the later run to finish', async () => (await call('GET', `/executions/${later.json().id}`)).json().status === 'SUCCEEDED');
    expect(target.hits.get(customer)).toBe(2);
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/trellis_starts_dropped_total\{trigger="MANUAL"\} [1-9]/);
    expect(metrics.body).toMatch(/trellis_starts_dropped_total\{trigger="RERUN"\} 1/);
  });

  serverIt('racing starts: exactly `limit` of 6 concurrent starts get a run, the rest 409 (the limiter decides, not the API)', async (h) => {
    const wf = await createDropWorkflow(2_000);
    const customer = `race-${Date.now()}`;
    const answers = await Promise.all(Array.from({ length: 6 }, () => call('POST', '/executions', { workflowId: wf, input: { customer } })));
    const codes = answers.map((a) => a.statusCode).sort();
    expect(codes).toEqual([202, 409, 409, 409, 409, 409]);
    expect((await runsOf(h, wf)).length).toBe(1);
    const id = answers.find((a) => a.statusCode === 202)!.json().id as string;
    await until('the run to finish', async () => (await call('GET', `/executions/${id}`)).json().status === 'SUCCEEDED');
    expect(target.hits.get(customer)).toBe(1);
  });

  serverIt('webhook: a dropped call answers 202 DROPPED, creates no run, and is counted on the workflow', async (h) => {
    const wf = await createDropWorkflow(1_500);
    const token = (await call('POST', `/workflows/${wf}/hook-token`)).json().url as string;
    const customer = `hook-${Date.now()}`;
    const first = await app.inject({ method: 'POST', url: token, payload: { customer } });
    expect(first.statusCode, first.body).toBe(202);
    expect(first.json().status).toBe('RUNNING');
    const second = await app.inject({ method: 'POST', url: token, payload: { customer } });
    expect(second.statusCode, second.body).toBe(202);
    expect(second.json()).toMatchObject({ status: 'DROPPED', workflowId: wf, dropped: { key: customer, limit: 1 } });
    expect(second.json().id).toBeUndefined();
    expect((await runsOf(h, wf)).length).toBe(1);
    const detail = (await call('GET', `/workflows/${wf}`)).json();
    expect(detail.hookDrops.count).toBe(1);
    expect(detail.hookDrops.lastDroppedAt).toEqual(expect.any(String));
    await until('the hook run to finish', async () => (await call('GET', `/executions/${first.json().id}`)).json().status === 'SUCCEEDED');
  });

  serverIt('schedule: a start dropped while the key is held leaves no run and is counted on the schedule', async (h) => {
    const wf = await createDropWorkflow(6_000);
    const { tenantId } = await h.database.db.workflow.findUniqueOrThrow({ where: { id: wf } });
    const customer = `sched-${Date.now()}`;
    const deps = { db: h.database.db, temporal };
    const schedule = await createSchedule(deps, tenantId, wf, { cron: '0 0 1 1 *', input: { customer }, overlap: 'allow_all', paused: true });
    try {
      const holder = await call('POST', '/executions', { workflowId: wf, input: { customer } });
      expect(holder.statusCode, holder.body).toBe(202);
      await until('the holder to call the target', async () => target.hits.get(customer) === 1);
      await triggerSchedule(deps, tenantId, schedule.id);
      const view = await until('the drop to be recorded', async () => {
        const s = await getSchedule(deps, tenantId, schedule.id);
        return s.droppedStarts > 0 ? s : undefined;
      });
      expect(view.droppedStarts).toBe(1);
      expect(view.lastDroppedAt).toBeInstanceOf(Date);
      expect(await h.database.db.execution.count({ where: { scheduleId: schedule.id } })).toBe(0);
      expect((await runsOf(h, wf)).map((r) => r.id)).toEqual([holder.json().id]);
      expect(target.hits.get(customer)).toBe(1);
      // The API shows the count.
      expect((await call('GET', `/schedules/${schedule.id}`)).json().droppedStarts).toBe(1);
      await until('the holder to finish', async () => (await call('GET', `/executions/${holder.json().id}`)).json().status === 'SUCCEEDED');
    } finally {
      await deleteSchedule(deps, tenantId, schedule.id);
    }
  });
});
