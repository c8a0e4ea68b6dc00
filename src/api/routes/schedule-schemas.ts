import { Type } from '@sinclair/typebox';
import { DateTime, Nullable, Page, StringEnum, pageQuery } from '../schemas';
import { SCHEDULE_OVERLAPS } from '../../temporal/gateway';
import { CRON_MACROS } from '../../domain/cron';
import { MAX_SCHEDULES_PAGE } from '../../services/schedules';

/** The request and response shapes of /workflows/:id/schedules and /schedules (routes/schedules.ts). */
export const SCHEDULE_TAGS = ['schedules'];

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

export const WorkflowParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
export const ScheduleParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

export const CreateBody = Type.Object(
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

export const PatchBody = Type.Object(
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
export const ScheduleSchema = Type.Object(scheduleProperties);
export const WorkflowScheduleList = Type.Object({ items: Type.Array(ScheduleSchema) });

export const ScheduleDetailSchema = Type.Object({
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

export const TriggerResponse = Type.Object({
  scheduleId: Type.String(),
  triggeredAt: DateTime,
  executionId: Nullable(Type.String({ description: 'The run it started (GET /executions/:id); null if Temporal had not reported it within 5 s' })),
});

export const ListQuery = Type.Object(
  {
    workflowId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    paused: Type.Optional(Type.Boolean()),
    ...pageQuery({ maxPageSize: MAX_SCHEDULES_PAGE, defaultLimit: 50 }),
  },
  { additionalProperties: false },
);
const ListedSchedule = Type.Object({ ...scheduleProperties, workflowName: Type.String() });
export const SchedulePage = Type.Object(Page(ListedSchedule));

export const Deleted = Type.Null({ description: 'deleted' });
