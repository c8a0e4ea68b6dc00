import type { Db } from '../db/client';
import type { MirrorActivities, MirrorBatch, NodeTransition, RecordRunRequest, RunTransition } from '../workflows/mirror-contract';

/** Postgres NOTIFY channel announcing mirror writes: payload `{ executionId, seq }`. */
export const EVENTS_CHANNEL = 'trellis_execution_events';

/**
 * The Postgres side of the status mirror. Every write is idempotent and ordered by the run's
 * sequence number: a row never moves back (`last_seq <= seq`), so retries, duplicates and late
 * arrivals are harmless. An equal seq does overwrite: mirror writes run as local activities,
 * inside a workflow task, and when that task is lost (its worker died) and run again, the same
 * transitions come again with the same seq but the retried task's timestamps, the ones that
 * Temporal's history keeps. The last of those writes wins.
 */
export function createMirrorActivities(db: Db): MirrorActivities {
  return {
    async recordRun(request: RecordRunRequest): Promise<boolean> {
      const workflow = await db.workflow.findUnique({ where: { id: request.workflowId }, select: { tenantId: true } });
      if (!workflow) return false;
      // The API inserts the row before it starts the run; a schedule, the Temporal UI or the CLI do not.
      await db.$executeRaw`
        INSERT INTO executions (id, tenant_id, workflow_id, version, status, trigger, schedule_id, temporal_run_id, input, started_at, updated_at)
        VALUES (${request.executionId}, ${workflow.tenantId}::uuid, ${request.workflowId}, ${request.version}, 'RUNNING',
                ${request.scheduleId ? 'SCHEDULE' : 'EXTERNAL'}::"ExecutionTrigger", ${request.scheduleId ?? null},
                ${request.temporalRunId}, ${json(request.input)}::jsonb, ${new Date(request.startedAt)}, now())
        ON CONFLICT (id) DO UPDATE SET temporal_run_id = EXCLUDED.temporal_run_id, updated_at = now()`;
      return true;
    },

    async mirrorTransitions(batch: MirrorBatch): Promise<void> {
      const seqs = [...batch.nodes.map((n) => n.seq), batch.run?.seq ?? 0];
      await db.$transaction([
        ...batch.nodes.map((node) => upsertNode(db, batch.executionId, node)),
        ...(batch.run ? [updateRun(db, batch.executionId, batch.run)] : []),
        // Delivered on commit: live listeners (SSE) re-read the rows instead of polling.
        db.$executeRaw`SELECT pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify({ executionId: batch.executionId, seq: Math.max(...seqs) })})`,
      ]);
    },
  };
}

function upsertNode(db: Db, executionId: string, n: NodeTransition) {
  return db.$executeRaw`
    INSERT INTO node_runs (execution_id, node_id, type, status, attempt, output, error, started_at, finished_at, last_seq)
    VALUES (${executionId}, ${n.nodeId}, ${n.type}, ${n.status}::"NodeRunStatus", ${n.attempt}, ${json(n.output)}::jsonb,
            ${json(n.error)}::jsonb, ${date(n.startedAt)}, ${date(n.finishedAt)}, ${n.seq})
    ON CONFLICT (execution_id, node_id) DO UPDATE SET
      type = EXCLUDED.type, status = EXCLUDED.status, attempt = EXCLUDED.attempt, output = EXCLUDED.output,
      error = EXCLUDED.error, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, last_seq = EXCLUDED.last_seq
    WHERE node_runs.last_seq <= EXCLUDED.last_seq`;
}

function updateRun(db: Db, executionId: string, r: RunTransition) {
  return db.$executeRaw`
    UPDATE executions SET status = ${r.status}::"ExecutionStatus", output = ${json(r.output)}::jsonb, error = ${json(r.error)}::jsonb,
      finished_at = ${date(r.finishedAt)}, last_seq = ${r.seq}, updated_at = now()
    WHERE id = ${executionId} AND last_seq <= ${r.seq}`;
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(storable(value));
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const clean = (text: string) => text.replaceAll('\0', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');

/**
 * jsonb refuses U+0000 and unpaired surrogates, and a mirror write that can never succeed would
 * hold its run open forever (the mirror retries without limit). Those characters become U+FFFD in
 * the mirror; Temporal's history keeps the exact value.
 */
export function storable(value: unknown): unknown {
  if (typeof value === 'string') return clean(value);
  if (Array.isArray(value)) return value.map(storable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [clean(k), storable(v)]));
  }
  return value;
}

function date(value: string | undefined): Date | null {
  return value ? new Date(value) : null;
}

