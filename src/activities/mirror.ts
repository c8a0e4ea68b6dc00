import type { Db } from '../db/client';
import type { MirrorActivities, MirrorBatch, NodeTransition, RecordRunRequest } from '../workflows/mirror-contract';

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
      await writeBatch(db, batch);
    },
  };
}

/**
 * One batch in one statement (one round trip, one implicit transaction): the node upserts, the
 * run update and the NOTIFY. Mirror writes run as local activities inside the workflow task,
 * so their latency is the workflow's; a multi-statement transaction took several round trips.
 */
async function writeBatch(db: Db, batch: MirrorBatch): Promise<void> {
  const seq = Math.max(...batch.nodes.map((n) => n.seq), batch.run?.seq ?? 0);
  // A node appears once per batch (the workflow coalesces); keep the newest if not.
  const newest = new Map<string, NodeTransition>();
  for (const n of batch.nodes) if ((newest.get(n.nodeId)?.seq ?? -1) < n.seq) newest.set(n.nodeId, n);
  const nodes = JSON.stringify(
    [...newest.values()].map((n) => ({
      node_id: n.nodeId,
      type: n.type,
      status: n.status,
      attempt: n.attempt,
      // Absent keys become SQL NULL, as undefined did before.
      ...(n.output !== undefined && { output: storable(n.output) }),
      ...(n.error !== undefined && { error: storable(n.error) }),
      started_at: n.startedAt ?? null,
      finished_at: n.finishedAt ?? null,
      seq: n.seq,
    })),
  );
  const r = batch.run;
  // Delivered on commit: live listeners (SSE) re-read the rows instead of polling.
  const notice = JSON.stringify({ executionId: batch.executionId, seq });
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
      UPDATE executions SET status = ${r?.status ?? 'RUNNING'}::"ExecutionStatus", output = ${json(r?.output)}::jsonb, error = ${json(r?.error)}::jsonb,
        finished_at = ${date(r?.finishedAt)}, last_seq = ${r?.seq ?? 0}, updated_at = now()
      WHERE ${r !== undefined} AND id = ${batch.executionId} AND last_seq <= ${r?.seq ?? 0}
      RETURNING 1
    )
    SELECT pg_notify(${EVENTS_CHANNEL}, ${notice})::text AS notified`;
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

