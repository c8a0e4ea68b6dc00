import {
  ScheduleNotFoundError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  ApplicationFailure,
  TimeoutFailure,
  WorkflowNotFoundError,
  type Client,
  type ScheduleOptionsAction,
  type ScheduleOverlapPolicy,
  type ScheduleSpec,
} from '@temporalio/client';
import {
  DAG_WORKFLOW_TYPE,
  approveSignal,
  cancelSignal,
  stateQuery,
  type ApprovalDecision,
  type DagRunResult,
  type DagRunState,
  type DagWorkflowInput,
} from '../contracts/dag-workflow';
import { pauseSignal, resumeSignal } from '../contracts/run-pause';
import { optionalTsToDate } from '@temporalio/common/lib/time';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import type { WaitingFor } from '../domain/flow-control';
import type { temporal } from '@temporalio/proto';
import { durationMs } from '../domain/duration';
import { executionTimeoutFor } from '../domain/policy';
import { runMemo, runSearchAttributes, type RunTrigger } from '../workflows/search-attributes';
import { searchAttributeProbe } from './search-attribute-setup';
import { createLimiterMethods, type LimiterMethods } from './limiters';

export interface RunDescription {
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, ... */
  status: string;
  closeTime?: Date;
  /** Temporal's run id of the workflow (the Web UI's links need it). */
  runId?: string;
  /** Activities Temporal is running or retrying: what the workflow itself learns only once they settle. */
  pendingActivities?: PendingActivity[];
}

/** One pending activity (a node's), from DescribeWorkflowExecution. */
export interface PendingActivity {
  /** The node id (Trellis uses it as the activity id). */
  activityId: string;
  /** SCHEDULED (waiting for a worker or for its next retry), STARTED, CANCEL_REQUESTED, PAUSED, ... */
  state: string;
  attempt: number;
  /** 0 means unlimited. */
  maximumAttempts: number;
  lastFailure?: { message: string; type?: string };
  lastStartedAt?: Date;
  nextAttemptAt?: Date;
  /** The attempt waits at its worker for its tenant's share (fair-share.ts heartbeats it). */
  waitingFor?: WaitingFor;
}

/** What a start knows beyond the run's input, for the Temporal UI's search attributes and memo. */
export interface StartLabels {
  trigger?: RunTrigger;
  workflowName?: string;
}

/** How a schedule's runs may overlap (DESIGN.md's lower-case names for Temporal's policies). */
export const SCHEDULE_OVERLAPS = ['skip', 'buffer_one', 'buffer_all', 'cancel_other', 'terminate_other', 'allow_all'] as const;
export type ScheduleOverlap = (typeof SCHEDULE_OVERLAPS)[number];

/** Everything a Trellis schedule asks of Temporal; the schedule id is Trellis's own (`sch_...`). */
export interface ScheduleSpecInput {
  /** The stored Trellis workflow each run starts (its latest version at run time). */
  workflowId: string;
  /** Its tenant, carried by every scheduled run. */
  tenantId: string;
  cron: string;
  timezone: string;
  input?: unknown;
  overlap: ScheduleOverlap;
  /** A Trellis duration ("10m", "1h30m"); absent leaves Temporal's default. */
  catchupWindow?: string;
  paused: boolean;
  note?: string;
}

/** What Temporal knows about a schedule that Postgres does not. */
export interface ScheduleRuntimeInfo {
  paused: boolean;
  note?: string;
  nextActionTimes: Date[];
  recentActions: { scheduledAt: Date; executionId: string }[];
  numActionsTaken: number;
}

/**
 * Everything the API and the reconciler ask of Temporal, behind one small interface so the
 * routes can be tested without a server.
 */
export interface TemporalGateway extends LimiterMethods {
  /**
   * Starts `dagWorkflow` with the execution id as its workflow id; starting twice is not an error.
   * `labels` feed the run's search attributes and memo (how it started, the workflow's name).
   */
  startRun(executionId: string, input: DagWorkflowInput, labels?: StartLabels): Promise<void>;
  cancelRun(executionId: string, reason?: string, force?: boolean): Promise<void>;
  approve(executionId: string, decision: ApprovalDecision): Promise<void>;
  /**
   * Sends `pause` (paused) or `resume`; false when Temporal has no such run open (it ended
   * meanwhile). Any other failure throws.
   */
  setPaused(executionId: string, paused: boolean, by: string): Promise<boolean>;
  /** The live state from the workflow's query, or undefined when the workflow is unknown. */
  queryState(executionId: string): Promise<DagRunState | undefined>;
  describe(executionId: string): Promise<RunDescription | undefined>;
  /**
   * What Temporal's visibility store lists for the execution id (its newest run): status and
   * close time, or undefined when it lists none (yet: visibility lags the history a little).
   */
  listedRun(executionId: string): Promise<{ status: string; closeTime?: Date } | undefined>;
  /** Resolves when Temporal answers; throws otherwise. */
  ping(): Promise<void>;
  /**
   * Runs `dagWorkflow` (POST /workflows/test-node's one-node run) and waits for its result, a
   * failed run's included; undefined when it has none within `waitMs` (the run is then terminated).
   */
  runToResult?(workflowId: string, input: DagWorkflowInput, waitMs: number): Promise<DagRunResult | undefined>;

  createSchedule(scheduleId: string, spec: ScheduleSpecInput): Promise<void>;
  /** Replaces spec, action, policies and state with `spec`. */
  updateSchedule(scheduleId: string, spec: ScheduleSpecInput): Promise<void>;
  pauseSchedule(scheduleId: string, note?: string): Promise<void>;
  unpauseSchedule(scheduleId: string, note?: string): Promise<void>;
  /** Deleting a schedule Temporal does not know is not an error. */
  deleteSchedule(scheduleId: string): Promise<void>;
  /** Starts one run now, whatever the overlap policy. */
  triggerSchedule(scheduleId: string): Promise<void>;
  /** Undefined when Temporal does not know the schedule. */
  describeSchedule(scheduleId: string): Promise<ScheduleRuntimeInfo | undefined>;
}

const ACTIVITY_STATES: Record<number, string> = { 1: 'SCHEDULED', 2: 'STARTED', 3: 'CANCEL_REQUESTED', 4: 'PAUSED', 5: 'PAUSE_REQUESTED' };

/** A started attempt whose last heartbeat says it waits for its tenant's share (the gate's `{ waitingFor }`). */
async function withWaitingFor(client: Client, p: temporal.api.workflow.v1.IPendingActivityInfo, pending: PendingActivity): Promise<PendingActivity> {
  if (pending.state !== 'STARTED' || !p.heartbeatDetails?.payloads?.length) return pending;
  try {
    const details = await decodeFromPayloadsAtIndex<unknown>(client.options.loadedDataConverter, 0, p.heartbeatDetails.payloads);
    const waitingFor = (details as { waitingFor?: unknown } | null)?.waitingFor as WaitingFor | null | undefined;
    return waitingFor?.kind === 'tenantShare' && typeof waitingFor.key === 'string' ? { ...pending, waitingFor: { kind: 'tenantShare', key: waitingFor.key } } : pending;
  } catch {
    return pending; // details this process cannot decode (another codec): no wait shown
  }
}

function toPendingActivity(p: temporal.api.workflow.v1.IPendingActivityInfo): PendingActivity {
  const failure = p.lastFailure;
  const state = ACTIVITY_STATES[Number(p.state ?? 0)] ?? 'UNSPECIFIED';
  // Servers before 1.21 have no nextAttemptScheduleTime; while a retry backs off they put its time in scheduledTime.
  const next = p.nextAttemptScheduleTime ?? (state === 'SCHEDULED' && (p.attempt ?? 0) > 1 ? p.scheduledTime : undefined);
  return {
    activityId: p.activityId ?? '',
    state,
    attempt: p.attempt ?? 0,
    maximumAttempts: p.maximumAttempts ?? 0,
    ...(failure
      ? { lastFailure: { message: failure.message ?? '', ...(failure.applicationFailureInfo?.type ? { type: failure.applicationFailureInfo.type } : {}) } }
      : {}),
    ...(p.lastStartedTime ? { lastStartedAt: optionalTsToDate(p.lastStartedTime) } : {}),
    ...(next ? { nextAttemptAt: optionalTsToDate(next) } : {}),
  };
}

/** `skip` → `SKIP`, and so on: the SDK's names are the upper-case ones. */
export function toOverlapPolicy(overlap: ScheduleOverlap): ScheduleOverlapPolicy {
  return overlap.toUpperCase() as ScheduleOverlapPolicy;
}

/**
 * Prefix of the workflow ids of scheduled runs; Temporal appends `-<scheduled time>`, so each
 * run's execution id (= its Temporal workflow id) reads `ex_sch_..-2026-01-01T00:00:00Z`.
 */
export function scheduledRunIdPrefix(scheduleId: string): string {
  return `ex_${scheduleId}`;
}

export function createTemporalGateway(client: Client, taskQueue: string, searchable = searchAttributeProbe(client)): TemporalGateway {
  const handle = (id: string) => client.workflow.getHandle(id);
  return {
    async startRun(executionId, input, labels = {}) {
      // runTimeout is enforced by the workflow; this backstop makes Temporal end it TIMED_OUT too.
      const executionTimeout = executionTimeoutFor(input.runTimeout ?? input.definition?.runTimeout);
      const runLabels = { ...input, trigger: labels.trigger ?? 'EXTERNAL', workflowName: labels.workflowName ?? input.definition?.name };
      const memo = runMemo(runLabels);
      const search = (await searchable()) ? { typedSearchAttributes: runSearchAttributes(runLabels), ...(memo && { memo }) } : {};
      try {
        await client.workflow.start(DAG_WORKFLOW_TYPE, {
          taskQueue,
          workflowId: executionId,
          args: [input],
          // An execution id names one run forever: a retried start must never run it a second time.
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          ...search,
          ...(executionTimeout === undefined ? {} : { workflowExecutionTimeout: executionTimeout }),
        });
      } catch (err) {
        // A retried request (same idempotency key) finds the run already started: that is success.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },
    async cancelRun(executionId, reason, force) {
      await handle(executionId).signal(cancelSignal, { reason, ...(force === undefined ? {} : { force }) });
    },
    async approve(executionId, decision) {
      await handle(executionId).signal(approveSignal, decision);
    },
    async setPaused(executionId, paused, by) {
      try {
        await handle(executionId).signal(paused ? pauseSignal : resumeSignal, { by });
        return true;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      }
    },
    async queryState(executionId) {
      try {
        return await handle(executionId).query(stateQuery);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
    },
    async describe(executionId) {
      try {
        const d = await handle(executionId).describe();
        const pending = await Promise.all((d.raw.pendingActivities ?? []).map((p) => withWaitingFor(client, p, toPendingActivity(p))));
        return { status: d.status.name, closeTime: d.closeTime, runId: d.runId, pendingActivities: pending };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
    },
    async listedRun(executionId) {
      // Standard visibility (servers before 1.20) takes only `=` and AND, so one query per id.
      let newest: { status: string; closeTime?: Date; startTime: Date } | undefined;
      for await (const w of client.workflow.list({ query: `WorkflowId = ${visibilityString(executionId)}`, pageSize: 10 })) {
        if (!newest || w.startTime > newest.startTime) newest = { status: w.status.name, startTime: w.startTime, ...(w.closeTime && { closeTime: w.closeTime }) };
      }
      return newest && { status: newest.status, ...(newest.closeTime && { closeTime: newest.closeTime }) };
    },
    async ping() {
      await client.workflowService.getSystemInfo({});
    },
    async runToResult(workflowId, input, waitMs) {
      // Temporal ends it too, a minute past the wait, should terminate below not get through.
      const run = await client.workflow.start(DAG_WORKFLOW_TYPE, { taskQueue, workflowId, args: [input], workflowExecutionTimeout: waitMs + 60_000 });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)));
      const outcome = run.result().catch((err: unknown) => {
        // A FAILED run carries its DagRunResult in the failure's details.
        if (!(err instanceof WorkflowFailedError)) throw err;
        const details = (err.cause as { details?: unknown[] } | undefined)?.details;
        if (details?.[0]) return details[0] as DagRunResult;
        // Failed before it ran the node (a definition the worker refused, a claim it did not
        // trust): the failure is the test's result. Out of time: no result, as below.
        if (err.cause instanceof TimeoutFailure) return undefined;
        if (err.cause instanceof ApplicationFailure) {
          return { status: 'FAILED', outputs: {}, error: { type: err.cause.type ?? 'Error', message: err.cause.message } } satisfies DagRunResult;
        }
        throw err;
      });
      // Past the wait the run is terminated and its result rejects with nobody awaiting it.
      outcome.catch(() => undefined);
      try {
        const result = await Promise.race([outcome, timedOut]);
        if (result === undefined) await run.terminate('test-node: no result in time').catch(() => undefined);
        return result;
      } finally {
        clearTimeout(timer);
      }
    },
    ...createScheduleMethods(client, taskQueue, searchable),
    ...createLimiterMethods(client, taskQueue),
  };
}

/** A string literal in Temporal's visibility query language. */
function visibilityString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

type ScheduleMethods = Pick<
  TemporalGateway,
  'createSchedule' | 'updateSchedule' | 'pauseSchedule' | 'unpauseSchedule' | 'deleteSchedule' | 'triggerSchedule' | 'describeSchedule'
>;

function createScheduleMethods(client: Client, taskQueue: string, searchable: () => Promise<boolean>): ScheduleMethods {
  const handle = (id: string) => client.schedule.getHandle(id);
  const spec = (s: ScheduleSpecInput): ScheduleSpec => ({ cronExpressions: [s.cron], timezone: s.timezone });
  // The version and the name are the run's to add once it loads the latest version.
  const action = async (scheduleId: string, s: ScheduleSpecInput): Promise<ScheduleOptionsAction> => ({
    type: 'startWorkflow',
    workflowType: DAG_WORKFLOW_TYPE,
    taskQueue,
    // No version: each run takes the workflow's latest version when it starts. No claim either:
    // the args name a stored workflow and no definition, so the run loads it scoped by tenantId
    // and runs as its owner or not at all; a signature could not bind the per-run id anyway.
    args: [{ tenantId: s.tenantId, workflowId: s.workflowId, input: s.input } satisfies DagWorkflowInput],
    workflowId: scheduledRunIdPrefix(scheduleId),
    ...((await searchable()) && { typedSearchAttributes: runSearchAttributes({ tenantId: s.tenantId, workflowId: s.workflowId, trigger: 'SCHEDULE' }) }),
  });
  const policies = (s: ScheduleSpecInput) => ({
    overlap: toOverlapPolicy(s.overlap),
    // Trellis durations ("1h30m") are a superset of the SDK's; milliseconds mean the same to both.
    ...(s.catchupWindow === undefined ? {} : { catchupWindow: durationMs(s.catchupWindow) }),
  });
  return {
    async createSchedule(scheduleId, s) {
      await client.schedule.create({
        scheduleId,
        spec: spec(s),
        action: await action(scheduleId, s),
        policies: policies(s),
        state: { paused: s.paused, ...(s.note === undefined ? {} : { note: s.note }) },
      });
    },
    async updateSchedule(scheduleId, s) {
      // Everything is rebuilt from `s` rather than patched onto `previous`: Temporal describes a
      // cron spec back as calendars, and keeping those beside the new cron would add, not replace.
      const next = await action(scheduleId, s);
      await handle(scheduleId).update((previous) => ({
        spec: spec(s),
        action: next,
        policies: { ...policies(s), pauseOnFailure: previous.policies.pauseOnFailure },
        state: { paused: s.paused, note: s.note ?? previous.state.note },
      }));
    },
    async pauseSchedule(scheduleId, note) {
      // Without a note the SDK writes its own ("Paused via TypeScript SDK"); ours names the API.
      await handle(scheduleId).pause(note ?? 'paused through the Trellis API');
    },
    async unpauseSchedule(scheduleId, note) {
      await handle(scheduleId).unpause(note ?? 'resumed through the Trellis API');
    },
    async deleteSchedule(scheduleId) {
      try {
        await handle(scheduleId).delete();
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
    },
    async triggerSchedule(scheduleId) {
      await handle(scheduleId).trigger();
    },
    async describeSchedule(scheduleId) {
      try {
        const d = await handle(scheduleId).describe();
        return {
          paused: d.state.paused,
          ...(d.state.note ? { note: d.state.note } : {}),
          nextActionTimes: d.info.nextActionTimes,
          recentActions: d.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt, executionId: a.action.workflow.workflowId })),
          numActionsTaken: d.info.numActionsTaken,
        };
      } catch (err) {
        if (err instanceof ScheduleNotFoundError) return undefined;
        throw err;
      }
    },
  };
}
