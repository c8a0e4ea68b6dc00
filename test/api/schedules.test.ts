import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../support/api';
import { pauseSchedulesOfWorkflow } from '../../src/services/schedules';

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi();
});
afterAll(async () => {
  await api?.close();
});
beforeEach(() => {
  api.temporal.down = false;
  api.temporal.scheduleCalls.length = 0;
});

async function createWorkflow(name = 'scheduled'): Promise<string> {
  const res = await api.request({ method: 'POST', url: '/workflows', payload: { name, definition: { name, nodes: [{ id: 'a', type: 'noop' }] } } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string }>().id;
}

async function createSchedule(workflowId: string, payload: Record<string, unknown> = { cron: '*/5 * * * *' }) {
  const res = await api.request({ method: 'POST', url: `/workflows/${workflowId}/schedules`, payload });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ id: string; paused: boolean; note: string | null }>();
}

const paths = (body: { error: { details?: { path: string }[] } }) => (body.error.details ?? []).map((d) => d.path);

describe('POST /workflows/:id/schedules', () => {
  it('creates the Temporal schedule and the row, with defaults', async () => {
    const wf = await createWorkflow();
    const res = await api.request({ method: 'POST', url: `/workflows/${wf}/schedules`, payload: { cron: '0 9 * * MON-FRI' } });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toEqual({
      id: expect.stringMatching(/^sch_[A-Za-z0-9_-]{22}$/),
      workflowId: wf,
      cron: '0 9 * * MON-FRI',
      timezone: 'UTC',
      input: null,
      overlap: 'skip',
      catchupWindow: null,
      paused: false,
      note: null,
      droppedStarts: 0,
      lastDroppedAt: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(api.temporal.scheduleCalls).toEqual([
      {
        method: 'create',
        scheduleId: body.id,
        spec: { workflowId: wf, tenantId: api.acmeTenantId, cron: '0 9 * * MON-FRI', timezone: 'UTC', input: undefined, overlap: 'skip', paused: false },
      },
    ]);
    const row = await api.database.db.schedule.findUniqueOrThrow({ where: { id: body.id } });
    expect(row).toMatchObject({ workflowId: wf, cron: '0 9 * * MON-FRI', overlap: 'skip', paused: false });
  });

  it('passes every option through to Temporal', async () => {
    const wf = await createWorkflow();
    const payload = { cron: '@daily', timezone: 'Europe/Paris', input: { n: 1 }, overlap: 'buffer_one', paused: true, catchupWindow: '1h30m', note: 'later' };
    const body = await createSchedule(wf, payload);
    expect(body).toMatchObject(payload);
    expect(api.temporal.schedules.get(body.id)).toEqual({ workflowId: wf, tenantId: api.acmeTenantId, ...payload });
  });

  it('answers 400 with the field path for a bad cron, timezone or catch-up window (all at once)', async () => {
    const wf = await createWorkflow();
    const res = await api.request({
      method: 'POST',
      url: `/workflows/${wf}/schedules`,
      payload: { cron: '61 * * * *', timezone: 'Mars/Base', catchupWindow: '1s' },
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error.code).toBe('VALIDATION_ERROR');
    expect(paths(body)).toEqual(['/body/cron', '/body/timezone', '/body/catchupWindow']);
    expect(body.error.details[0].message).toMatch(/minute field "61"/);
    expect(api.temporal.scheduleCalls).toEqual([]);
    expect(await api.database.db.schedule.count({ where: { workflowId: wf } })).toBe(0);
  });

  it('answers 400 for schema violations: missing cron, unknown property, bad overlap', async () => {
    const wf = await createWorkflow();
    const cases: [unknown, string][] = [
      [{}, '/body/cron'],
      [{ cron: '* * * * *', color: 'red' }, '/body/color'],
      [{ cron: '* * * * *', overlap: 'sometimes' }, '/body/overlap'],
      [{ cron: '* * * * *', paused: 'yes' }, '/body/paused'],
    ];
    for (const [payload, path] of cases) {
      const res = await api.request({ method: 'POST', url: `/workflows/${wf}/schedules`, payload: payload as object });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(paths(res.json())).toContain(path);
    }
  });

  it("answers 404 for an unknown or another tenant's workflow, 409 for an archived one", async () => {
    expect((await api.request({ method: 'POST', url: '/workflows/wf_nope/schedules', payload: { cron: '@hourly' } })).statusCode).toBe(404);
    const wf = await createWorkflow();
    const other = await api.request({
      method: 'POST',
      url: `/workflows/${wf}/schedules`,
      payload: { cron: '@hourly' },
      headers: { authorization: `Bearer ${api.otherKey}` },
    });
    expect(other.statusCode).toBe(404);
    expect((await api.request({ method: 'DELETE', url: `/workflows/${wf}` })).statusCode).toBe(204);
    const res = await api.request({ method: 'POST', url: `/workflows/${wf}/schedules`, payload: { cron: '@hourly' } });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('CONFLICT');
    expect(api.temporal.scheduleCalls).toEqual([]);
  });

  it('leaves no row behind when Temporal refuses (503)', async () => {
    const wf = await createWorkflow();
    api.temporal.down = true;
    const res = await api.request({ method: 'POST', url: `/workflows/${wf}/schedules`, payload: { cron: '@hourly' } });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('TEMPORAL_UNAVAILABLE');
    expect(await api.database.db.schedule.count({ where: { workflowId: wf } })).toBe(0);
  });
});

describe('GET /workflows/:id/schedules and GET /schedules/:id', () => {
  it("lists a workflow's schedules oldest first, and shows one with Temporal's view", async () => {
    const wf = await createWorkflow();
    const a = await createSchedule(wf, { cron: '@hourly' });
    const b = await createSchedule(wf, { cron: '@daily' });
    const list = await api.request({ method: 'GET', url: `/workflows/${wf}/schedules` });
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((s: { id: string }) => s.id)).toEqual([a.id, b.id]);

    const one = await api.request({ method: 'GET', url: `/schedules/${a.id}` });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id: a.id, cron: '@hourly', info: { paused: false, nextActionTimes: [], numActionsTaken: 0 } });

    api.temporal.schedules.delete(a.id);
    expect((await api.request({ method: 'GET', url: `/schedules/${a.id}` })).json().info).toBeNull();
    api.temporal.down = true;
    const offline = await api.request({ method: 'GET', url: `/schedules/${b.id}` });
    expect(offline.statusCode).toBe(200);
    expect(offline.json()).not.toHaveProperty('info');
  });

  it("answers 404 for another tenant's workflow or schedule", async () => {
    const wf = await createWorkflow();
    const s = await createSchedule(wf);
    const headers = { authorization: `Bearer ${api.otherKey}` };
    expect((await api.request({ method: 'GET', url: `/workflows/${wf}/schedules`, headers })).statusCode).toBe(404);
    for (const [method, url] of [
      ['GET', `/schedules/${s.id}`],
      ['PATCH', `/schedules/${s.id}`],
      ['DELETE', `/schedules/${s.id}`],
      ['POST', `/schedules/${s.id}/trigger`],
    ] as const) {
      const res = await api.request({ method, url, headers, ...(method === 'PATCH' ? { payload: { paused: true } } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json().error.code).toBe('NOT_FOUND');
    }
    expect(api.temporal.scheduleCalls.map((c) => c.method)).toEqual(['create']);
    expect(await api.database.db.schedule.findUnique({ where: { id: s.id } })).not.toBeNull();
  });
});

describe('PATCH /schedules/:id', () => {
  it('updates the spec in Temporal and the row together', async () => {
    const wf = await createWorkflow();
    const s = await createSchedule(wf, { cron: '@hourly', catchupWindow: '5m' });
    const res = await api.request({
      method: 'PATCH',
      url: `/schedules/${s.id}`,
      payload: { cron: '30 2 * * *', timezone: 'America/New_York', input: [1, 2], overlap: 'allow_all', catchupWindow: null },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ cron: '30 2 * * *', timezone: 'America/New_York', input: [1, 2], overlap: 'allow_all', catchupWindow: null });
    const update = api.temporal.scheduleCalls.at(-1);
    expect(update).toEqual({
      method: 'update',
      scheduleId: s.id,
      spec: { workflowId: wf, tenantId: api.acmeTenantId, cron: '30 2 * * *', timezone: 'America/New_York', input: [1, 2], overlap: 'allow_all', paused: false },
    });
  });

  it('pauses and resumes through pause/unpause; a PATCH without a note keeps the note there is', async () => {
    const wf = await createWorkflow();
    const s = await createSchedule(wf);
    const paused = await api.request({ method: 'PATCH', url: `/schedules/${s.id}`, payload: { paused: true, note: 'maintenance' } });
    expect(paused.json()).toMatchObject({ paused: true, note: 'maintenance' });
    const resumed = await api.request({ method: 'PATCH', url: `/schedules/${s.id}`, payload: { paused: false } });
    expect(resumed.json()).toMatchObject({ paused: false, note: 'maintenance' });
    const pausedAgain = await api.request({ method: 'PATCH', url: `/schedules/${s.id}`, payload: { paused: true, note: 'freeze' } });
    expect(pausedAgain.json()).toMatchObject({ paused: true, note: 'freeze' });
    expect(api.temporal.scheduleCalls.slice(1)).toEqual([
      { method: 'pause', scheduleId: s.id, note: 'maintenance' },
      { method: 'unpause', scheduleId: s.id, note: 'maintenance' },
      { method: 'pause', scheduleId: s.id, note: 'freeze' },
    ]);
    expect(api.temporal.schedules.get(s.id)?.paused).toBe(true);
  });

  it('answers 400 with paths for bad values or an empty body, and changes nothing', async () => {
    const wf = await createWorkflow();
    const s = await createSchedule(wf);
    const bad = await api.request({ method: 'PATCH', url: `/schedules/${s.id}`, payload: { cron: '* * *', timezone: 'utc' } });
    expect(bad.statusCode).toBe(400);
    expect(paths(bad.json())).toEqual(['/body/cron', '/body/timezone']);
    expect((await api.request({ method: 'PATCH', url: `/schedules/${s.id}`, payload: {} })).statusCode).toBe(400);
    const extra = await api.request({ method: 'PATCH', url: `/schedules/${s.id}`, payload: { workflowId: 'wf_other' } });
    expect(paths(extra.json())).toContain('/body/workflowId');
    expect((await api.database.db.schedule.findUniqueOrThrow({ where: { id: s.id } })).cron).toBe('*/5 * * * *');
    expect(api.temporal.scheduleCalls.map((c) => c.method)).toEqual(['create']);
  });

  it('rolls the row back when Temporal fails (503)', async () => {
    const wf = await createWorkflow();
    const s = await createSchedule(wf);
    api.temporal.down = true;
    const res = await api.request({ method: 'PATCH', url: `/schedules/${s.id}`, payload: { cron: '@daily', paused: true } });
    expect(res.statusCode).toBe(503);
    expect(await api.database.db.schedule.findUniqueOrThrow({ where: { id: s.id } })).toMatchObject({ cron: '*/5 * * * *', paused: false });
  });

  it('refuses (409) to resume a schedule of an archived workflow; pausing stays possible', async () => {
    const wf = await createWorkflow();
    const s = await createSchedule(wf, { cron: '@daily', paused: true });
    await api.request({ method: 'DELETE', url: `/workflows/${wf}` });
    expect((await api.request({ method: 'PATCH', url: `/schedules/${s.id}`, payload: { paused: false } })).statusCode).toBe(409);
    expect((await api.request({ method: 'PATCH', url: `/schedules/${s.id}`, payload: { note: 'archived' } })).statusCode).toBe(200);
  });
});

describe('GET /schedules', () => {
  it("lists the tenant's schedules newest first with their workflow's name, filters by workflow and paused, and pages", async () => {
    const one = await createWorkflow();
    const two = await createWorkflow();
    const a = await createSchedule(one);
    const b = await createSchedule(two, { cron: '@daily', paused: true, note: 'off' });
    const c = await createSchedule(two);
    const all = await api.request({ method: 'GET', url: '/schedules?limit=200' });
    expect(all.statusCode).toBe(200);
    const ids = all.json().items.map((s: { id: string }) => s.id);
    expect(ids.indexOf(c.id)).toBeLessThan(ids.indexOf(b.id));
    expect(ids.indexOf(b.id)).toBeLessThan(ids.indexOf(a.id));
    const names = await api.database.db.workflow.findMany({ where: { id: { in: [one, two] } }, select: { id: true, name: true } });
    const listedB = all.json().items.find((s: { id: string }) => s.id === b.id);
    expect(listedB).toMatchObject({ workflowId: two, workflowName: names.find((w) => w.id === two)!.name, paused: true, note: 'off' });

    const ofTwo = await api.request({ method: 'GET', url: `/schedules?workflowId=${two}` });
    expect(ofTwo.json().items.map((s: { id: string }) => s.id)).toEqual([c.id, b.id]);
    const pausedOfTwo = await api.request({ method: 'GET', url: `/schedules?workflowId=${two}&paused=true` });
    expect(pausedOfTwo.json().items.map((s: { id: string }) => s.id)).toEqual([b.id]);

    const first = await api.request({ method: 'GET', url: `/schedules?workflowId=${two}&limit=1` });
    expect(first.json().items.map((s: { id: string }) => s.id)).toEqual([c.id]);
    const next = await api.request({ method: 'GET', url: `/schedules?workflowId=${two}&limit=1&cursor=${first.json().nextCursor}` });
    expect(next.json()).toMatchObject({ items: [expect.objectContaining({ id: b.id })], nextCursor: null });
    expect((await api.request({ method: 'GET', url: '/schedules?cursor=nope' })).statusCode).toBe(400);
  });
});

describe('DELETE /schedules/:id and POST /schedules/:id/trigger', () => {
  it('triggers (202) and deletes (204) in Temporal and Postgres', async () => {
    const wf = await createWorkflow();
    const s = await createSchedule(wf);
    const trigger = await api.request({ method: 'POST', url: `/schedules/${s.id}/trigger` });
    expect(trigger.statusCode).toBe(202);
    expect(trigger.json()).toEqual({ scheduleId: s.id, triggeredAt: expect.any(String), executionId: `${s.id}-run-1` });

    const del = await api.request({ method: 'DELETE', url: `/schedules/${s.id}` });
    expect(del.statusCode).toBe(204);
    expect(del.body).toBe('');
    expect(api.temporal.scheduleCalls.map((c) => c.method)).toEqual(['create', 'trigger', 'delete']);
    expect(api.temporal.schedules.has(s.id)).toBe(false);
    expect(await api.database.db.schedule.findUnique({ where: { id: s.id } })).toBeNull();
    expect((await api.request({ method: 'GET', url: `/schedules/${s.id}` })).statusCode).toBe(404);
    expect((await api.request({ method: 'DELETE', url: `/schedules/${s.id}` })).statusCode).toBe(404);
    expect((await api.request({ method: 'POST', url: `/schedules/${s.id}/trigger` })).statusCode).toBe(404);
  });

  it('keeps the row when Temporal cannot delete (503), and refuses to trigger for an archived workflow (409)', async () => {
    const wf = await createWorkflow();
    const s = await createSchedule(wf);
    api.temporal.down = true;
    expect((await api.request({ method: 'DELETE', url: `/schedules/${s.id}` })).statusCode).toBe(503);
    expect(await api.database.db.schedule.findUnique({ where: { id: s.id } })).not.toBeNull();
    api.temporal.down = false;
    await api.request({ method: 'DELETE', url: `/workflows/${wf}` });
    expect((await api.request({ method: 'POST', url: `/schedules/${s.id}/trigger` })).statusCode).toBe(409);
  });
});

describe('pauseSchedulesOfWorkflow', () => {
  it("pauses the workflow's running schedules with the note, and only this tenant's", async () => {
    const wf = await createWorkflow();
    const running = await createSchedule(wf, { cron: '@hourly' });
    const alreadyPaused = await createSchedule(wf, { cron: '@daily', paused: true, note: 'off' });
    const deps = { db: api.database.db, temporal: api.temporal };
    const row = await api.database.db.workflow.findUniqueOrThrow({ where: { id: wf } });
    const otherTenant = await api.database.db.tenant.findFirstOrThrow({ where: { id: { not: row.tenantId } } });
    expect(await pauseSchedulesOfWorkflow(deps, otherTenant.id, wf, 'x')).toEqual([]);
    expect(await pauseSchedulesOfWorkflow(deps, row.tenantId, wf, 'workflow archived')).toEqual([running.id]);
    expect(api.temporal.scheduleCalls.filter((c) => c.method === 'pause')).toEqual([
      { method: 'pause', scheduleId: running.id, note: 'workflow archived' },
    ]);
    const rows = await api.database.db.schedule.findMany({ where: { workflowId: wf }, orderBy: { createdAt: 'asc' } });
    expect(rows.map((r) => [r.id, r.paused, r.note])).toEqual([
      [running.id, true, 'workflow archived'],
      [alreadyPaused.id, true, 'off'],
    ]);
    expect(await pauseSchedulesOfWorkflow(deps, row.tenantId, wf, 'again')).toEqual([]);
  });
});
