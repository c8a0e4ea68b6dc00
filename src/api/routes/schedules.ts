import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiLimits, AppDeps } from '../deps';
import { DateTime, Nullable, Page, StringEnum, decodeCursor, errorResponses, pageQuery } from '../schemas';
import { SCHEDULE_OVERLAPS } from '../../temporal/gateway';
import { CRON_MACROS } from '../../domain/cron';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  listTenantSchedules,
  MAX_SCHEDULES_PAGE,
  triggerSchedule,
  updateSchedule,
} from '../../services/schedules';

const tags = ['schedules'];

const Overlap = StringEnum(SCHEDULE_OVERLAPS, {
  description: 'What happens when a run is due while the previous one still runs (Temporal overlap policy); default skip',
});

// Length limits only: cron and timezone are checked by src/domain/cron.ts, whose messages say
// what is wrong, where a pattern here would only say "must match pattern".
const Cron = Type.String({
  minLength: 1,
  maxLength: 200,
  description: `Standard 5-field cron (minute hour day-of-month month day-of-week) or one of ${CRON_MACROS.join(', ')}`,
  examples: ['0 9 * * MON-FRI', '*/15 * * * *', '@daily'],
});
const Timezone = Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone the cron is read in; default UTC', examples: ['Europe/Paris'] });
const CatchupWindow = Type.String({
  minLength: 1,
  maxLength: 50,
  description: 'How late a run missed during a Temporal outage may still start ("10m", "1h30m"; at least 10s); default Temporal\'s',
});
const Input = Type.Unknown({ description: 'Input of every run the schedule starts' });
const Note = Type.String({ maxLength: 1000, description: 'Why the schedule was paused or resumed' });
const Paused = Type.Boolean({ description: 'A paused schedule starts no runs (trigger still does)' });

const WorkflowParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
const ScheduleParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

const CreateBody = Type.Object(
  {
    cron: Cron,
    timezone: Type.Optional(Timezone),
    input: Type.Optional(Input),
    overlap: Type.Optional(Overlap),
    paused: Type.Optional(Paused),
    catchupWindow: Type.Optional(CatchupWindow),
    note: Type.Optional(Note),
  },
  { additionalProperties: false },
);

const PatchBody = Type.Object(
  {
    cron: Type.Optional(Cron),
    timezone: Type.Optional(Timezone),
    input: Type.Optional(Input),
    overlap: Type.Optional(Overlap),
    catchupWindow: Type.Optional(Nullable(CatchupWindow)),
    paused: Type.Optional(Paused),
    note: Type.Optional(Note),
  },
  { additionalProperties: false, minProperties: 1 },
);

const scheduleProperties = {
  id: Type.String({ description: 'Also the Temporal schedule id' }),
  workflowId: Type.String(),
  cron: Type.String(),
  timezone: Type.String(),
  input: Input,
  overlap: Overlap,
  catchupWindow: Nullable(Type.String()),
  paused: Type.Boolean(),
  note: Nullable(Type.String()),
  droppedStarts: Type.Integer({ description: "Starts dropped by the workflow's run-level concurrency (onLimit drop); no run was created for them" }),
  lastDroppedAt: Nullable(DateTime),
  createdAt: DateTime,
  updatedAt: DateTime,
};
const ScheduleSchema = Type.Object(scheduleProperties);

const ScheduleDetailSchema = Type.Object({
  ...scheduleProperties,
  info: Type.Optional(
    Nullable(
      Type.Object(
        {
          paused: Type.Boolean(),
          note: Type.Optional(Type.String()),
          nextActionTimes: Type.Array(DateTime),
          recentActions: Type.Array(Type.Object({ scheduledAt: DateTime, executionId: Type.String() })),
          numActionsTaken: Type.Integer(),
        },
        { description: "Temporal's view: null when Temporal does not know the schedule, absent when it did not answer" },
      ),
    ),
  ),
});

const TriggerResponse = Type.Object({
  scheduleId: Type.String(),
  triggeredAt: DateTime,
  executionId: Nullable(Type.String({ description: 'The run it started (GET /executions/:id); null if Temporal had not reported it within 5 s' })),
});

const ListQuery = Type.Object(
  {
    workflowId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    paused: Type.Optional(Type.Boolean()),
    ...pageQuery({ maxPageSize: MAX_SCHEDULES_PAGE, defaultLimit: 50 }),
  },
  { additionalProperties: false },
);
const ListedSchedule = Type.Object({ ...scheduleProperties, workflowName: Type.String() });

/** Cron schedules of stored workflows, as Temporal Schedules mirrored by a `schedules` row per tenant. */
export const scheduleRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps; limits: ApiLimits }> = async (app, { deps }) => {
  app.post(
    '/workflows/:id/schedules',
    {
      schema: {
        operationId: 'createSchedule',
        tags,
        summary: 'Schedule runs of a workflow',
        description: 'Creates a Temporal Schedule that starts the latest version of the workflow on every cron tick.',
        params: WorkflowParams,
        body: CreateBody,
        response: { 201: ScheduleSchema, ...errorResponses(400, 401, 404, 409, 413, 429, 503) },
      },
    },
    async (request, reply) => {
      const schedule = await createSchedule(deps, request.tenantId, request.params.id, request.body);
      return reply.status(201).send(schedule);
    },
  );

  app.get(
    '/workflows/:id/schedules',
    {
      schema: {
        operationId: 'listWorkflowSchedules',
        tags,
        summary: "A workflow's schedules, oldest first",
        params: WorkflowParams,
        response: { 200: Type.Object({ items: Type.Array(ScheduleSchema) }), ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => ({ items: await listSchedules(deps, request.tenantId, request.params.id) }),
  );

  app.get(
    '/schedules',
    {
      schema: {
        operationId: 'listSchedules',
        tags,
        summary: "The tenant's schedules, newest first",
        description: 'Filter by `workflowId` and `paused`; each item names its workflow. Cursor pagination (`nextCursor`).',
        querystring: ListQuery,
        response: { 200: Type.Object(Page(ListedSchedule)), ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const { cursor, ...query } = request.query;
      return listTenantSchedules(deps, request.tenantId, { ...query, cursor: decodeCursor(cursor) });
    },
  );

  app.get(
    '/schedules/:id',
    {
      schema: {
        operationId: 'getSchedule',
        tags,
        summary: 'One schedule, with its next and recent runs from Temporal',
        params: ScheduleParams,
        response: { 200: ScheduleDetailSchema, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => getSchedule(deps, request.tenantId, request.params.id),
  );

  app.patch(
    '/schedules/:id',
    {
      schema: {
        operationId: 'updateSchedule',
        tags,
        summary: 'Change a schedule, or pause / resume it',
        description: 'Only the given fields change. `paused` with an optional `note` pauses or resumes; resuming needs a workflow that is not archived.',
        params: ScheduleParams,
        body: PatchBody,
        response: { 200: ScheduleSchema, ...errorResponses(400, 401, 404, 409, 413, 429, 503) },
      },
    },
    async (request) => updateSchedule(deps, request.tenantId, request.params.id, request.body),
  );

  app.delete(
    '/schedules/:id',
    {
      schema: {
        operationId: 'deleteSchedule',
        tags,
        summary: 'Delete a schedule (runs it started are kept)',
        params: ScheduleParams,
        response: { 204: Type.Null({ description: 'deleted' }), ...errorResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      await deleteSchedule(deps, request.tenantId, request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/schedules/:id/trigger',
    {
      schema: {
        operationId: 'triggerSchedule',
        tags,
        summary: 'Start one run now',
        description: 'Starts a run immediately, even when the schedule is paused; it appears in GET /executions with trigger SCHEDULE.',
        params: ScheduleParams,
        response: { 202: TriggerResponse, ...errorResponses(400, 401, 404, 409, 413, 429, 503) },
      },
    },
    async (request, reply) => reply.status(202).send(await triggerSchedule(deps, request.tenantId, request.params.id)),
  );
};
