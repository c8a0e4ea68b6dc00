import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTemporalGateway, type TemporalGateway } from '../../src/temporal/gateway';
import { CRON_MACROS } from '../../src/domain/cron';
import { createSchedule, deleteSchedule, getSchedule, triggerSchedule, updateSchedule } from '../../src/services/schedules';
import { startHarness, type Harness } from './harness';

let h: Harness | undefined;
let temporal: TemporalGateway;
beforeAll(async () => {
  h = await startHarness('schedule server tests');
  if (h) temporal = createTemporalGateway(h.server.env.client, h.taskQueue);
});
afterAll(async () => h?.close());

function serverIt(name: string, fn: (h: Harness) => Promise<void>): void {
  it(name, async (ctx) => {
    if (!h) return ctx.skip();
    await fn(h);
  }, 60_000);
}

async function until<T>(what: string, probe: () => Promise<T | undefined | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('schedules on a real Temporal server', () => {
  serverIt('a triggered schedule starts a run that the mirror records with trigger SCHEDULE and the schedule id', async (h) => {
    await h.store('wf_scheduled', { name: 'scheduled', nodes: [{ id: 'echo', type: 'transform', config: { expression: 'input.n * 2' } }] });
    const { tenantId } = await h.database.db.workflow.findUniqueOrThrow({ where: { id: 'wf_scheduled' } });
    const deps = { db: h.database.db, temporal };
    // Paused, and due only once a year: the one run this test sees is the one it triggers.
    const schedule = await createSchedule(deps, tenantId, 'wf_scheduled', {
      cron: '0 0 1 1 *',
      timezone: 'Europe/Paris',
      input: { n: 21 },
      overlap: 'buffer_one',
      catchupWindow: '5m',
      paused: true,
      note: 'test',
    });
    try {
      const before = await getSchedule(deps, tenantId, schedule.id);
      expect(before.info).toMatchObject({ paused: true, note: 'test', numActionsTaken: 0 });
      // Midnight of 1 January in Paris (UTC+1 in winter): the time zone reached Temporal.
      expect(before.info?.nextActionTimes[0]?.toISOString()).toMatch(/-12-31T23:00:00\.000Z$/);

      const triggered = await triggerSchedule(deps, tenantId, schedule.id);
      const run = await until('the scheduled run in Postgres', () =>
        h.database.db.execution.findFirst({ where: { scheduleId: schedule.id, status: 'SUCCEEDED' } }),
      );
      expect(run).toMatchObject({ trigger: 'SCHEDULE', scheduleId: schedule.id, workflowId: 'wf_scheduled', input: { n: 21 }, output: { echo: 42 } });
      expect(run.id.startsWith(`ex_${schedule.id}-`)).toBe(true);
      expect(triggered.executionId).toBe(run.id);
      const after = await getSchedule(deps, tenantId, schedule.id);
      expect(after.info?.recentActions.map((a) => a.executionId)).toEqual([run.id]);

      // A spec change replaces the cron (not adds to it) and carries the pause state.
      await updateSchedule(deps, tenantId, schedule.id, { cron: '@hourly', timezone: 'UTC', overlap: 'allow_all' });
      const updated = await h.server.env.client.schedule.getHandle(schedule.id).describe();
      expect(updated.spec.calendars).toHaveLength(1);
      expect(updated.spec.timezone).toBe('UTC');
      expect(updated.policies).toMatchObject({ overlap: 'ALLOW_ALL', catchupWindow: 300_000 });
      expect(updated.state).toMatchObject({ paused: true, note: 'test' });
      expect(updated.action).toMatchObject({ workflowType: 'dagWorkflow', taskQueue: h.taskQueue, args: [{ workflowId: 'wf_scheduled', input: { n: 21 } }] });
      const next = updated.info.nextActionTimes[0] as Date;
      expect(next.getUTCMinutes()).toBe(0);

      await updateSchedule(deps, tenantId, schedule.id, { paused: false, note: 'go' });
      expect((await h.server.env.client.schedule.getHandle(schedule.id).describe()).state).toMatchObject({ paused: false, note: 'go' });
      await updateSchedule(deps, tenantId, schedule.id, { paused: true });
      expect((await getSchedule(deps, tenantId, schedule.id)).info?.paused).toBe(true);
    } finally {
      await deleteSchedule(deps, tenantId, schedule.id);
    }
    expect(await temporal.describeSchedule(schedule.id)).toBeUndefined();
    expect(await h.database.db.schedule.findUnique({ where: { id: schedule.id } })).toBeNull();
    // Deleting what Temporal no longer knows is not an error.
    await temporal.deleteSchedule(schedule.id);
  });

  serverIt('Temporal accepts every cron expression and time zone src/domain/cron.ts accepts', async (h) => {
    const crons = ['0 9 * * MON-FRI', '0 9 * * mon-fri', '*/15 * * * *', '0 0 1 JAN,jul *', '0 0 * * 7', '0 0 * * 5-7', '1-59/2 0-23/3 1-31/7 1-12/2 0-7/2', '*/59 */23 */31 */12 */7', ...CRON_MACROS];
    const zones = ['UTC', 'Europe/Paris', 'Asia/Kolkata', 'US/Eastern', 'Etc/GMT+5', 'America/Argentina/Buenos_Aires'];
    const cases = [...crons.map((cron) => ({ cron, timezone: 'UTC' })), ...zones.map((timezone) => ({ cron: '@daily', timezone }))];
    for (const [i, c] of cases.entries()) {
      const id = `sch_accept_${i}_${Date.now()}`;
      await temporal.createSchedule(id, { workflowId: 'wf_none', tenantId: 'tenant-none', ...c, overlap: 'skip', paused: true });
      try {
        const info = await temporal.describeSchedule(id);
        expect(info?.nextActionTimes.length, JSON.stringify(c)).toBeGreaterThan(0);
      } finally {
        await temporal.deleteSchedule(id);
      }
    }
    expect(h.taskQueue).toBeTruthy();
  });
});
