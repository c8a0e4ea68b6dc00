import type { Db } from '../db/client';
import type { MirrorBatch, NodeTransition, RecordRunRequest } from '../contracts/transitions';
import { EVENTS_CHANNEL } from './notify';
import { jsonParam, storable } from './storable';
import { isTerminalExecution } from '../domain/status';

/*
 * The write side of the status mirror, as the workflow's mirror activities (and node activities)
 * call it, in the shapes src/contracts/transitions.ts declares for both sides.
 */

/**
 * Makes sure the execution row exists: the API inserts it before it starts the run; a schedule,
 * the Temporal UI or the CLI do not. False when the workflow is not stored (nothing to mirror).
 */
export async function recordRun(db: Db, request: RecordRunRequest): Promise<boolean> {
  // One statement (one commit per run, not a read and a write): no workflow row, no insert, false.
  const recorded = await db.$queryRaw<unknown[]>`
    INSERT INTO executions (id, tenant_id, workflow_id, version, status, trigger, schedule_id, temporal_run_id, input, started_at, updated_at, test)
    SELECT ${request.executionId}, w.tenant_id, w.id, ${request.version}, 'RUNNING',
           ${request.scheduleId ? 'SCHEDULE' : 'EXTERNAL'}::"ExecutionTrigger", ${request.scheduleId ?? null},
           ${request.temporalRunId}, ${jsonParam(request.input)}::jsonb, ${new Date(request.startedAt)}, now(), ${request.test === true}
    FROM workflows w WHERE w.id = ${request.workflowId}
    ON CONFLICT (id) DO UPDATE SET temporal_run_id = EXCLUDED.temporal_run_id, updated_at = now(),
      -- A run with mocks is a test run however it was started (the API marks its own rows already).
      test = executions.test OR EXCLUDED.test,
      -- A row the worker reserved for this run (reserveRun: trigger EXTERNAL, no input yet) gets
      -- what only the workflow knows. The API never writes EXTERNAL, so its rows keep theirs.
      trigger = CASE WHEN executions.trigger = 'EXTERNAL' THEN EXCLUDED.trigger ELSE executions.trigger END,
      schedule_id = CASE WHEN executions.trigger = 'EXTERNAL' THEN EXCLUDED.schedule_id ELSE executions.schedule_id END,
      input = CASE WHEN executions.trigger = 'EXTERNAL' THEN EXCLUDED.input ELSE executions.input END,
      started_at = CASE WHEN executions.trigger = 'EXTERNAL' THEN EXCLUDED.started_at ELSE executions.started_at END
    RETURNING 1 AS recorded`;
  return recorded.length > 0;
}

/**
 * Applies one batch of transitions (see writeTransitionBatches).
 */
export async function writeTransitions(db: Db, batch: MirrorBatch): Promise<void> {
  await writeTransitionBatches(db, [batch]);
}

/**
 * Applies batches of transitions of any number of runs in one statement (one round trip, one
 * implicit transaction, one commit): the node upserts, the run updates and the runs' notices
 * (delivered on commit, so a reader never looks too early). A worker running many runs groups
 * their mirror writes into one statement (src/activities/mirror.ts).
 *
 * Why the notices ride in the write (issue 26, measured): sent in statements of their own after
 * the commit, they cost a commit each — 0.5 to 1 per node at 200 concurrent runs, more than any
 * other statement but the writes. A notifying commit does hold a database-wide lock through its
 * WAL flush, so notifying writes commit one after another; the group commit in front of this
 * statement turns that queue into bigger statements rather than more waiting.
 *
 * Node rows are updated where they exist and inserted where they do not, rather than with
 * INSERT ... ON CONFLICT DO UPDATE: that form WAL-logs a tuple lock before each update and a
 * confirmation after each insert (about 100 of a node's ~950 WAL bytes, issue 26).
 *
 * Every write is idempotent and ordered by the run's sequence number: a row never moves back
 * (`last_seq <= seq`), so retries, duplicates and late arrivals are harmless. An equal seq does
 * overwrite: when a workflow task is lost (its worker died) and run again, the same transitions
 * come again with the same seq but the retried task's timestamps, the ones Temporal's history
 * keeps. The last of those writes wins.
 */
export async function writeTransitionBatches(db: Db, batches: readonly MirrorBatch[]): Promise<void> {
  // A node (and a run) appears once per statement (ON CONFLICT may touch a row once); keep the newest.
  const newest = new Map<string, NodeTransition & { executionId: string }>();
  const runs = new Map<string, NonNullable<MirrorBatch['run']>>();
  const notices = new Map<string, number>();
  for (const batch of batches) {
    for (const n of batch.nodes) {
      const key = `${batch.executionId}\0${n.nodeId}`;
      if ((newest.get(key)?.seq ?? -1) < n.seq) newest.set(key, { ...n, executionId: batch.executionId });
    }
    if (batch.run && (runs.get(batch.executionId)?.seq ?? -1) < batch.run.seq) runs.set(batch.executionId, batch.run);
    const seq = Math.max(...batch.nodes.map((n) => n.seq), batch.run?.seq ?? 0);
    notices.set(batch.executionId, Math.max(seq, notices.get(batch.executionId) ?? 0));
  }
  const nodes = JSON.stringify([...newest.values()].map((n) => ({ execution_id: n.executionId, ...nodeRow(n) })));
  const runRows = JSON.stringify(
    [...runs].map(([id, r]) => ({
      id,
      status: r.status,
      ...(r.output !== undefined && { output: storable(r.output) }),
      ...(r.error !== undefined && { error: storable(r.error) }),
      finished_at: r.finishedAt ?? null,
      seq: r.seq,
      // A pause write sets the pause (null clears it); a final status clears it too; others leave it.
      pause_set: r.pause !== undefined || isTerminalExecution(r.status),
      paused_at: r.pause?.at ?? null,
      paused_by: r.pause?.by ?? null,
    })),
  );
  const write = () => db.$queryRaw`
    WITH incoming AS (
      SELECT * FROM jsonb_to_recordset(${nodes}::jsonb)
        AS x(execution_id text, node_id text, type text, status text, attempt int, output jsonb, error jsonb, started_at timestamptz, finished_at timestamptz, seq int, waiting_for jsonb, mocked boolean)
    ), updated AS (
      UPDATE node_runs n SET
        type = i.type, status = i.status::"NodeRunStatus", attempt = i.attempt, output = i.output, error = i.error,
        started_at = i.started_at, finished_at = i.finished_at, last_seq = i.seq, waiting_for = i.waiting_for, mocked = COALESCE(i.mocked, false)
      FROM incoming i
      WHERE n.execution_id = i.execution_id AND n.node_id = i.node_id AND n.last_seq <= i.seq
      RETURNING 1
    ), inserted AS (
      INSERT INTO node_runs (execution_id, node_id, type, status, attempt, output, error, started_at, finished_at, last_seq, waiting_for, mocked)
      SELECT execution_id, node_id, type, status::"NodeRunStatus", attempt, output, error, started_at, finished_at, seq, waiting_for, COALESCE(mocked, false)
      FROM incoming i
      WHERE NOT EXISTS (SELECT 1 FROM node_runs n WHERE n.execution_id = i.execution_id AND n.node_id = i.node_id)
      RETURNING 1
    ), incoming_runs AS (
      SELECT * FROM jsonb_to_recordset(${runRows}::jsonb)
        AS r(id text, status text, output jsonb, error jsonb, finished_at timestamptz, seq int, pause_set boolean, paused_at timestamptz, paused_by text)
    ), run AS (
      UPDATE executions e SET status = r.status::"ExecutionStatus", output = r.output, error = r.error,
        finished_at = r.finished_at, last_seq = r.seq, updated_at = now(),
        paused_at = CASE WHEN r.pause_set THEN r.paused_at ELSE e.paused_at END,
        paused_by = CASE WHEN r.pause_set THEN r.paused_by ELSE e.paused_by END
      FROM incoming_runs r
      WHERE e.id = r.id AND e.last_seq <= r.seq
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM updated)::int + (SELECT count(*) FROM inserted)::int AS nodes, (SELECT count(*) FROM run)::int AS runs,
      (SELECT count(pg_notify(${EVENTS_CHANNEL}, notice)) FROM json_array_elements_text(${noticesJson(notices)}::json) AS notice)::int AS notified`;
  try {
    await write();
  } catch (err) {
    // A row inserted by another transaction after this statement's snapshot (a node activity's
    // write ahead racing this one): the statement again sees it, and updates it.
    if (!isUniqueViolation(err)) throw err;
    await write();
  }
}

/** Postgres' unique_violation (23505), as Prisma's driver adapter reports it. */
function isUniqueViolation(err: unknown): boolean {
  const text = `${(err as Error)?.message ?? ''} ${JSON.stringify(err) ?? ''}`;
  return text.includes('23505') || /unique constraint/i.test(text);
}

/** The notices of a statement, one per run (its highest seq), as a JSON array of payloads. */
function noticesJson(notices: Iterable<[string, number]>): string {
  return JSON.stringify([...notices].map(([executionId, seq]) => JSON.stringify({ executionId, seq })));
}

/** A node's result as its own activity writes it, ahead of the workflow. */
export interface NodeResultWrite extends NodeTransition {
  executionId: string;
}

/**
 * Node results written by the node activities' worker, many runs in one statement. Where the
 * workflow's write runs one workflow task after the node returns, this runs as it returns. It
 * only ever adds news: a row is written only when its run is mirrored and still running (a run the
 * reconciler ended gets no late result)
 * and the row holds an older seq, strictly — the workflow's own write of the same seq, which
 * carries the timestamps Temporal's history keeps, is never overwritten by this one.
 *
 * The commit does not wait for the WAL flush: a write lost to a crash is one the workflow makes
 * durably anyway. Its notices ride in the statement (delivered on commit). Returns the
 * `executionId\0nodeId` keys of the rows it wrote.
 */
export async function writeNodeResults(db: Db, results: NodeResultWrite[]): Promise<Set<string>> {
  if (results.length === 0) return new Set();
  // ON CONFLICT may touch a row once per statement: of two writes of one node (two attempts), the later.
  const byRow = new Map(results.map((n) => [nodeResultKey(n.executionId, n.nodeId), n]));
  const rows = JSON.stringify([...byRow.values()].map((n) => ({ execution_id: n.executionId, ...nodeRow(n) })));
  const written = await db.$queryRaw<{ execution_id: string; node_id: string }[]>`
    WITH incoming AS (
      SELECT * FROM jsonb_to_recordset(${rows}::jsonb)
        AS x(execution_id text, node_id text, type text, status text, attempt int, output jsonb, error jsonb, started_at timestamptz, finished_at timestamptz, seq int)
      WHERE set_config('synchronous_commit', 'off', true) IS NOT NULL
    ), written AS (
      INSERT INTO node_runs (execution_id, node_id, type, status, attempt, output, error, started_at, finished_at, last_seq)
      SELECT execution_id, node_id, type, status::"NodeRunStatus", attempt, output, error, started_at, finished_at, seq FROM incoming i
      WHERE EXISTS (SELECT 1 FROM executions e WHERE e.id = i.execution_id AND e.status IN ('QUEUED', 'RUNNING'))
      ON CONFLICT (execution_id, node_id) DO UPDATE SET
        type = EXCLUDED.type, status = EXCLUDED.status, attempt = EXCLUDED.attempt, output = EXCLUDED.output,
        error = EXCLUDED.error, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, last_seq = EXCLUDED.last_seq
      WHERE node_runs.last_seq < EXCLUDED.last_seq
      RETURNING execution_id, node_id, last_seq
    ), notified AS (
      SELECT count(pg_notify(${EVENTS_CHANNEL}, json_build_object('executionId', execution_id, 'seq', seq)::text)) AS n
      FROM (SELECT execution_id, max(last_seq) AS seq FROM written GROUP BY execution_id) AS runs
    )
    SELECT execution_id, node_id FROM written, notified`;
  return new Set(written.map((row) => nodeResultKey(row.execution_id, row.node_id)));
}

/** How writeNodeResults names a written row. */
export function nodeResultKey(executionId: string, nodeId: string): string {
  return `${executionId}\0${nodeId}`;
}

/** A node write as one jsonb_to_recordset row: absent keys become SQL NULL, as undefined did before. */
function nodeRow(n: NodeTransition) {
  return {
    node_id: n.nodeId,
    type: n.type,
    status: n.status,
    attempt: n.attempt,
    ...(n.output !== undefined && { output: storable(n.output) }),
    ...(n.error !== undefined && { error: storable(n.error) }),
    ...(n.waitingFor !== undefined && { waiting_for: n.waitingFor }),
    ...(n.mocked && { mocked: true }),
    started_at: n.startedAt ?? null,
    finished_at: n.finishedAt ?? null,
    seq: n.seq,
  };
}
