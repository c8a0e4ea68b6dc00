import { MAX_INPUT_BYTES } from './executions';
import { randomBytes } from 'node:crypto';
import { Prisma } from '../generated/prisma/client';
import { conflict, invalid, notFound, temporalUnavailable } from './errors';
import type { Db } from '../db/client';
import type { ScheduleOverlap, ScheduleRuntimeInfo, ScheduleSpecInput, TemporalGateway } from '../temporal/gateway';
import { cronError, timezoneError } from '../domain/cron';
import { parseDuration } from '../domain/duration';
import { afterCursor, page, type Cursor } from '../util/pagination';
import { findWorkflow } from './workflows';
import { quotaRefusal, quotaUsage, withinQuota } from './quotas';

interface Deps {
  db: Db;
  temporal: TemporalGateway;
}

export interface ScheduleView {
  id: string;
  workflowId: string;
  cron: string;
  timezone: string;
  input: unknown;
  overlap: ScheduleOverlap;
  catchupWindow: string | null;
  paused: boolean;
  note: string | null;
  /** Starts dropped by the workflow's run-level concurrency (onLimit drop): no run was created for them. */
  droppedStarts: number;
  lastDroppedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface ScheduleFields {
  cron: string;
  timezone?: string;
  input?: unknown;
  overlap?: ScheduleOverlap;
  catchupWindow?: string;
  paused?: boolean;
  note?: string;
}

export interface SchedulePatch extends Partial<Omit<ScheduleFields, 'catchupWindow'>> {
  /** null goes back to Temporal's default. */
  catchupWindow?: string | null;
}

type ScheduleRow = Omit<ScheduleView, 'overlap'> & { tenantId: string; overlap: string };

/** Temporal starts no catch-up run for a window shorter than this, so a shorter one is a mistake. */
const MIN_CATCHUP_MS = 10_000;
/** Interactive transactions wait on Temporal; the default 5 s would abort on a slow answer. */
const TX_OPTIONS = { timeout: 30_000, maxWait: 10_000 };

/** `sch_` + 16 random bytes in base64url: unguessable, and a valid Temporal schedule id. */
export function newScheduleId(): string {
  return `sch_${randomBytes(16).toString('base64url')}`;
}

export function toScheduleView(row: ScheduleRow): ScheduleView {
  const { tenantId: _tenantId, ...view } = row;
  return { ...view, overlap: view.overlap as ScheduleOverlap, input: view.input ?? null };
}

function specOf(row: ScheduleRow): ScheduleSpecInput {
  return {
    workflowId: row.workflowId,
    tenantId: row.tenantId,
    cron: row.cron,
    timezone: row.timezone,
    input: row.input ?? undefined,
    overlap: row.overlap as ScheduleOverlap,
    ...(row.catchupWindow === null ? {} : { catchupWindow: row.catchupWindow }),
    paused: row.paused,
    ...(row.note === null ? {} : { note: row.note }),
  };
}

/** Every problem with cron, timezone and catchupWindow at once, as 400 details with body paths. */
function checkFields(fields: { cron?: string; timezone?: string; catchupWindow?: string | null; input?: unknown }): void {
  const details: { path: string; message: string }[] = [];
  const cron = fields.cron === undefined ? undefined : cronError(fields.cron);
  if (cron) details.push({ path: '/body/cron', message: cron });
  const tz = fields.timezone === undefined ? undefined : timezoneError(fields.timezone);
  if (tz) details.push({ path: '/body/timezone', message: tz });
  if (fields.catchupWindow !== undefined && fields.catchupWindow !== null) {
    const ms = parseDuration(fields.catchupWindow);
    if (ms === undefined || ms < MIN_CATCHUP_MS) {
      details.push({ path: '/body/catchupWindow', message: 'must be a duration from 10s to 366d, such as "10m" or "1h30m"' });
    }
  }
  // Every run the schedule starts carries this input: the same limit as POST /executions.
  const inputBytes = fields.input === undefined ? 0 : Buffer.byteLength(JSON.stringify(fields.input) ?? '', 'utf8');
  if (inputBytes > MAX_INPUT_BYTES) details.push({ path: '/body/input', message: `must be at most ${MAX_INPUT_BYTES} bytes as JSON (it is ${inputBytes})` });
  if (details.length > 0) throw invalid(`invalid schedule: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`, details);
}

const unavailable = (what: string, cause: unknown) => temporalUnavailable(`could not ${what}`, { cause });

const archived = (workflowId: string) => conflict(`workflow ${workflowId} is archived`, { workflowId });

/** The schedule's row, scoped to the tenant: another tenant's schedule is as absent as an unknown one. */
async function findSchedule(deps: Deps, tenantId: string, id: string): Promise<ScheduleRow> {
  const row = await deps.db.schedule.findFirst({ where: { id, tenantId } });
  if (!row) throw notFound(`schedule ${id}`);
  return row;
}

const jsonValue = (value: unknown) => (value === null ? Prisma.JsonNull : (value as Prisma.InputJsonValue));

/**
 * Row first, then the Temporal schedule, deleting the row again if Temporal refuses. The other
 * order could leave, after a crash between the two steps, a Temporal schedule that starts runs
 * while no API call can see or delete it; this order can only leave a row whose Temporal side
 * is missing, which GET shows (`info: null`) and DELETE removes.
 */
export async function createSchedule(deps: Deps, tenantId: string, workflowId: string, fields: ScheduleFields): Promise<ScheduleView> {
  const workflow = await findWorkflow(deps.db, tenantId, workflowId);
  checkFields(fields);
  if (workflow.archivedAt) throw archived(workflowId);
  // The row is counted and inserted under the tenant's SCHEDULES lock, before Temporal hears of
  // it: a refusal leaves nothing behind on either side.
  const row = await quotaRefusal(
    withinQuota(deps.db, {
      tenantId,
      quota: 'SCHEDULES',
      used: (tx) => quotaUsage.SCHEDULES(tx, tenantId),
      store: (tx) =>
        tx.schedule.create({
          data: {
            id: newScheduleId(),
            tenantId,
            workflowId,
            cron: fields.cron.trim(),
            timezone: fields.timezone ?? 'UTC',
            ...(fields.input === undefined ? {} : { input: jsonValue(fields.input) }),
            overlap: fields.overlap ?? 'skip',
            catchupWindow: fields.catchupWindow ?? null,
            paused: fields.paused ?? false,
            note: fields.note ?? null,
          },
        }),
    }),
  );
  try {
    await deps.temporal.createSchedule(row.id, specOf(row));
  } catch (err) {
    await deps.db.schedule.delete({ where: { id: row.id } });
    throw unavailable('create the schedule', err);
  }
  return toScheduleView(row);
}

/** How many schedules one GET /schedules page holds at most. */
export const MAX_SCHEDULES_PAGE = 200;

/**
 * The tenant's schedules (optionally one workflow's, or only paused / running ones), newest first
 * with keyset pagination, each with its workflow's name so a list can say what it runs.
 */
export async function listTenantSchedules(
  deps: Deps,
  tenantId: string,
  query: { workflowId?: string; paused?: boolean; limit?: number; cursor?: Cursor },
): Promise<{ items: (ScheduleView & { workflowName: string })[]; nextCursor: string | null }> {
  const limit = Math.min(query.limit ?? 50, MAX_SCHEDULES_PAGE);
  const rows = await deps.db.schedule.findMany({
    where: {
      tenantId,
      ...(query.workflowId === undefined ? {} : { workflowId: query.workflowId }),
      ...(query.paused === undefined ? {} : { paused: query.paused }),
      ...afterCursor(query.cursor),
    },
    include: { workflow: { select: { name: true } } },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: limit + 1,
  });
  const { items, nextCursor } = page(rows, limit);
  return { items: items.map(({ workflow, ...row }) => ({ ...toScheduleView(row), workflowName: workflow.name })), nextCursor };
}

export async function listSchedules(deps: Deps, tenantId: string, workflowId: string): Promise<ScheduleView[]> {
  await findWorkflow(deps.db, tenantId, workflowId);
  const rows = await deps.db.schedule.findMany({ where: { tenantId, workflowId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  return rows.map(toScheduleView);
}

/**
 * The row plus what only Temporal knows (next and recent runs): `info` is null when Temporal
 * does not know the schedule, and absent when Temporal did not answer (the row still shows).
 */
export async function getSchedule(
  deps: Deps,
  tenantId: string,
  id: string,
): Promise<ScheduleView & { info?: ScheduleRuntimeInfo | null }> {
  const view = toScheduleView(await findSchedule(deps, tenantId, id));
  try {
    return { ...view, info: (await deps.temporal.describeSchedule(id)) ?? null };
  } catch {
    return view;
  }
}

/**
 * Row and Temporal change in one Postgres transaction: the row is updated (and so locked, which
 * serializes concurrent PATCHes) before Temporal is told, and a Temporal failure rolls the row
 * back. Only a failed commit after Temporal accepted could leave them apart; the next PATCH,
 * which sends the whole spec, brings Temporal back in line.
 */
export async function updateSchedule(deps: Deps, tenantId: string, id: string, patch: SchedulePatch): Promise<ScheduleView> {
  checkFields(patch);
  const current = await findSchedule(deps, tenantId, id);
  if (patch.paused === false && current.paused) {
    const workflow = await findWorkflow(deps.db, tenantId, current.workflowId);
    if (workflow.archivedAt) throw archived(current.workflowId);
  }
  const specChanged = ['cron', 'timezone', 'input', 'overlap', 'catchupWindow'].some((k) => k in patch);
  const stateChanged = patch.paused !== undefined || patch.note !== undefined;
  // Pausing or resuming without a note keeps the one there is: only a given note replaces it.
  const note = patch.note ?? current.note;
  return deps.db.$transaction(async (tx) => {
    const { count } = await tx.schedule.updateMany({
      where: { id, tenantId },
      data: {
        ...(patch.cron === undefined ? {} : { cron: patch.cron.trim() }),
        ...(patch.timezone === undefined ? {} : { timezone: patch.timezone }),
        ...(patch.input === undefined ? {} : { input: jsonValue(patch.input) }),
        ...(patch.overlap === undefined ? {} : { overlap: patch.overlap }),
        ...(patch.catchupWindow === undefined ? {} : { catchupWindow: patch.catchupWindow }),
        ...(patch.paused === undefined ? {} : { paused: patch.paused }),
        note,
      },
    });
    if (count === 0) throw notFound(`schedule ${id}`);
    const row = await tx.schedule.findUniqueOrThrow({ where: { id } });
    try {
      // The full update carries the pause state too; pause/unpause alone keeps the spec untouched.
      if (specChanged) await deps.temporal.updateSchedule(id, specOf(row));
      else if (stateChanged && row.paused) await deps.temporal.pauseSchedule(id, row.note ?? undefined);
      else if (stateChanged) await deps.temporal.unpauseSchedule(id, row.note ?? undefined);
    } catch (err) {
      throw unavailable('update the schedule', err);
    }
    return toScheduleView(row);
  }, TX_OPTIONS);
}

/** Temporal first: if it fails the row stays, so the schedule stays visible and DELETE can be retried. */
export async function deleteSchedule(deps: Deps, tenantId: string, id: string): Promise<void> {
  await findSchedule(deps, tenantId, id);
  try {
    await deps.temporal.deleteSchedule(id);
  } catch (err) {
    throw unavailable('delete the schedule', err);
  }
  await deps.db.schedule.deleteMany({ where: { id, tenantId } });
}

/** How long trigger waits for Temporal to report the run it started (its id is Temporal's to choose). */
const TRIGGER_RUN_WAIT_MS = 5_000;

/**
 * One run now, paused or not; the run appears in GET /executions with trigger SCHEDULE. Temporal
 * picks the run's id when it takes the action, so this watches the schedule's recent actions for
 * the new one; `executionId` is null if Temporal has not reported it within a few seconds.
 */
export async function triggerSchedule(
  deps: Deps,
  tenantId: string,
  id: string,
): Promise<{ scheduleId: string; triggeredAt: Date; executionId: string | null }> {
  const row = await findSchedule(deps, tenantId, id);
  const workflow = await findWorkflow(deps.db, tenantId, row.workflowId);
  if (workflow.archivedAt) throw archived(row.workflowId);
  const seen = new Set(((await deps.temporal.describeSchedule(id).catch(() => undefined))?.recentActions ?? []).map((a) => a.executionId));
  const triggeredAt = new Date();
  try {
    await deps.temporal.triggerSchedule(id);
  } catch (err) {
    throw unavailable('trigger the schedule', err);
  }
  const deadline = Date.now() + TRIGGER_RUN_WAIT_MS;
  for (let delay = 50; Date.now() < deadline; delay = Math.min(delay * 2, 500)) {
    const info = await deps.temporal.describeSchedule(id).catch(() => undefined);
    const started = info?.recentActions.find((a) => !seen.has(a.executionId));
    if (started) return { scheduleId: id, triggeredAt, executionId: started.executionId };
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  return { scheduleId: id, triggeredAt, executionId: null };
}

/**
 * Pauses every running schedule of a workflow (used when the workflow is archived), Temporal
 * first and then each row. Throws on the first Temporal failure with the rest still unpaused;
 * calling it again picks up where it stopped. Returns the ids it paused.
 */
export async function pauseSchedulesOfWorkflow(deps: Deps, tenantId: string, workflowId: string, note: string): Promise<string[]> {
  const rows = await deps.db.schedule.findMany({ where: { tenantId, workflowId, paused: false }, select: { id: true } });
  for (const { id } of rows) {
    try {
      await deps.temporal.pauseSchedule(id, note);
    } catch (err) {
      throw unavailable(`pause schedule ${id}`, err);
    }
    await deps.db.schedule.updateMany({ where: { id, tenantId }, data: { paused: true, note } });
  }
  return rows.map((r) => r.id);
}
