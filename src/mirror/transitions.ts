import type { Db } from '../db/client';
import type { MirrorBatch, NodeTransition, RecordRunRequest } from '../contracts/transitions';
import { notifyTransition, notifyTransitionsOf } from './notify';
import { jsonParam, storable } from './storable';

/*
 * The write side of the status mirror, as the workflow's mirror activities (and node activities)
 * call it, in the shapes src/domain/transitions.ts declares for both sides.
 */

/**
 * Makes sure the execution row exists: the API inserts it before it starts the run; a schedule,
 * the Temporal UI or the CLI do not. False when the workflow is not stored (nothing to mirror).
 */
export async function recordRun(db: Db, request: RecordRunRequest): Promise<boolean> {
  const workflow = await db.workflow.findUnique({ where: { id: request.workflowId }, select: { tenantId: true } });
  if (!workflow) return false;
  await db.$executeRaw`
    INSERT INTO executions (id, tenant_id, workflow_id, version, status, trigger, schedule_id, temporal_run_id, input, started_at, updated_at)
    VALUES (${request.executionId}, ${workflow.tenantId}::uuid, ${request.workflowId}, ${request.version}, 'RUNNING',
            ${request.scheduleId ? 'SCHEDULE' : 'EXTERNAL'}::"ExecutionTrigger", ${request.scheduleId ?? null},
            ${request.temporalRunId}, ${jsonParam(request.input)}::jsonb, ${new Date(request.startedAt)}, now())
    ON CONFLICT (id) DO UPDATE SET temporal_run_id = EXCLUDED.temporal_run_id, updated_at = now(),
      -- A row the worker reserved for this run (reserveRun: trigger EXTERNAL, no input yet) gets
      -- what only the workflow knows. The API never writes EXTERNAL, so its rows keep theirs.
      trigger = CASE WHEN executions.trigger = 'EXTERNAL' THEN EXCLUDED.trigger ELSE executions.trigger END,
      schedule_id = CASE WHEN executions.trigger = 'EXTERNAL' THEN EXCLUDED.schedule_id ELSE executions.schedule_id END,
      input = CASE WHEN executions.trigger = 'EXTERNAL' THEN EXCLUDED.input ELSE executions.input END,
      started_at = CASE WHEN executions.trigger = 'EXTERNAL' THEN EXCLUDED.started_at ELSE executions.started_at END`;
  return true;
}

/**
 * Applies one batch of transitions in one statement (one round trip, one implicit transaction):
 * the node upserts, the run update and the NOTIFY.
 *
 * Every write is idempotent and ordered by the run's sequence number: a row never moves back
 * (`last_seq <= seq`), so retries, duplicates and late arrivals are harmless. An equal seq does
 * overwrite: when a workflow task is lost (its worker died) and run again, the same transitions
 * come again with the same seq but the retried task's timestamps, the ones Temporal's history
 * keeps. The last of those writes wins.
 */
export async function writeTransitions(db: Db, batch: MirrorBatch): Promise<void> {
  const seq = Math.max(...batch.nodes.map((n) => n.seq), batch.run?.seq ?? 0);
  // A node appears once per batch (the workflow coalesces); keep the newest if not.
  const newest = new Map<string, NodeTransition>();
  for (const n of batch.nodes) if ((newest.get(n.nodeId)?.seq ?? -1) < n.seq) newest.set(n.nodeId, n);
  const nodes = JSON.stringify([...newest.values()].map(nodeRow));
  const r = batch.run;
  await db.$queryRaw`
    WITH incoming AS (
      SELECT * FROM jsonb_to_recordset(${nodes}::jsonb)
        AS x(node_id text, type text, status text, attempt int, output jsonb, error jsonb, started_at timestamptz, finished_at timestamptz, seq int)
    ), nodes AS (
      INSERT INTO node_runs (execution_id, node_id, type, status, attempt, output, error, started_at, finished_at, last_seq)
      SELECT ${batch.executionId}, node_id, type, status::"NodeRunStatus", attempt, output, error, started_at, finished_at, seq FROM incoming
      ON CONFLICT (execution_id, node_id) DO UPDATE SET
        type = EXCLUDED.type, status = EXCLUDED.status, attempt = EXCLUDED.attempt, output = EXCLUDED.output,
        error = EXCLUDED.error, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, last_seq = EXCLUDED.last_seq
      WHERE node_runs.last_seq <= EXCLUDED.last_seq
      RETURNING 1
    ), run AS (
      UPDATE executions SET status = ${r?.status ?? 'RUNNING'}::"ExecutionStatus", output = ${jsonParam(r?.output)}::jsonb, error = ${jsonParam(r?.error)}::jsonb,
        finished_at = ${date(r?.finishedAt)}, last_seq = ${r?.seq ?? 0}, updated_at = now()
      WHERE ${r !== undefined} AND id = ${batch.executionId} AND last_seq <= ${r?.seq ?? 0}
      RETURNING 1
    )
    SELECT ${notifyTransition(batch.executionId, seq)}::text AS notified`;
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
 */
export async function writeNodeResults(db: Db, results: NodeResultWrite[]): Promise<void> {
  if (results.length === 0) return;
  const rows = JSON.stringify(results.map((n) => ({ execution_id: n.executionId, ...nodeRow(n) })));
  await db.$queryRaw`
    WITH incoming AS (
      SELECT * FROM jsonb_to_recordset(${rows}::jsonb)
        AS x(execution_id text, node_id text, type text, status text, attempt int, output jsonb, error jsonb, started_at timestamptz, finished_at timestamptz, seq int)
      -- This statement's commit does not wait for the WAL flush: a write lost to a crash is one
      -- the workflow makes durably anyway, and the node's worker is spared the fsync.
      WHERE set_config('synchronous_commit', 'off', true) IS NOT NULL
    ), written AS (
      INSERT INTO node_runs (execution_id, node_id, type, status, attempt, output, error, started_at, finished_at, last_seq)
      SELECT execution_id, node_id, type, status::"NodeRunStatus", attempt, output, error, started_at, finished_at, seq FROM incoming i
      WHERE EXISTS (SELECT 1 FROM executions e WHERE e.id = i.execution_id AND e.status = 'RUNNING')
      ON CONFLICT (execution_id, node_id) DO UPDATE SET
        type = EXCLUDED.type, status = EXCLUDED.status, attempt = EXCLUDED.attempt, output = EXCLUDED.output,
        error = EXCLUDED.error, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, last_seq = EXCLUDED.last_seq
      WHERE node_runs.last_seq < EXCLUDED.last_seq
      RETURNING execution_id, last_seq
    )
    ${notifyTransitionsOf('written')}`;
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
    started_at: n.startedAt ?? null,
    finished_at: n.finishedAt ?? null,
    seq: n.seq,
  };
}

function date(value: string | undefined): Date | null {
  return value ? new Date(value) : null;
}
