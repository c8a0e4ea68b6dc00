import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiLimits, AppDeps } from '../deps';
import { decodeCursor, errorResponses } from '../schemas';
import {
  createSchedule,
  deleteSchedule,
  getSchedule,
  listSchedules,
  listTenantSchedules,
  triggerSchedule,
  updateSchedule,
} from '../../services/schedules';
import {
  CreateBody,
  Deleted,
  ListQuery,
  PatchBody,
  SCHEDULE_TAGS as tags,
  ScheduleDetailSchema,
  SchedulePage,
  ScheduleParams,
  ScheduleSchema,
  TriggerResponse,
  WorkflowParams,
  WorkflowScheduleList,
} from './schedule-schemas';

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
        response: { 200: WorkflowScheduleList, ...errorResponses(400, 401, 404, 429) },
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
        response: { 200: SchedulePage, ...errorResponses(400, 401, 429) },
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
        response: { 204: Deleted, ...errorResponses(400, 401, 404, 429, 503) },
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
