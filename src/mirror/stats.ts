import type { Db } from '../db/client';
import { EXECUTION_STATUSES, NODE_STATUSES, type ExecutionStatus } from '../domain/status';

export interface WorkflowStats {
  total: number;
  byStatus: Record<ExecutionStatus, number>;
  /** SUCCEEDED / finished runs; null when none finished. */
  successRate: number | null;
  avgDurationMs: number | null;
  p95DurationMs: number | null;
}

/** Counts and durations of one workflow's runs started since `since`, aggregated in Postgres; test runs (mocks) left out. */
export async function workflowStats(db: Db, tenantId: string, workflowId: string, since: Date): Promise<WorkflowStats> {
  const [counts, durations] = await Promise.all([
    db.$queryRaw<{ status: ExecutionStatus; n: number }[]>`
      SELECT status::text AS status, count(*)::int AS n
      FROM executions
      WHERE tenant_id = ${tenantId}::uuid AND workflow_id = ${workflowId} AND started_at >= ${since} AND NOT test
      GROUP BY status`,
    db.$queryRaw<{ avg: number | null; p95: number | null }[]>`
      SELECT avg(ms)::float8 AS avg, percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::float8 AS p95
      FROM (
        SELECT extract(epoch FROM finished_at - started_at) * 1000 AS ms
        FROM executions
        WHERE tenant_id = ${tenantId}::uuid AND workflow_id = ${workflowId} AND started_at >= ${since} AND NOT test
          AND finished_at IS NOT NULL
      ) finished`,
  ]);
  const byStatus = Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0])) as Record<ExecutionStatus, number>;
  for (const row of counts) byStatus[row.status] = row.n;
  const total = EXECUTION_STATUSES.reduce((sum, s) => sum + byStatus[s], 0);
  const finished = total - byStatus.RUNNING;
  const { avg = null, p95 = null } = durations[0] ?? {};
  return {
    total,
    byStatus,
    successRate: finished > 0 ? byStatus.SUCCEEDED / finished : null,
    avgDurationMs: avg === null ? null : Math.round(avg),
    p95DurationMs: p95 === null ? null : Math.round(p95),
  };
}

/** Rows per status across every tenant (for the operator's metrics); every status is present, 0 when absent. */
export async function executionStatusCounts(db: Db): Promise<Record<string, number>> {
  const rows = await db.$queryRaw<{ status: string; n: number }[]>`SELECT status::text AS status, count(*)::int AS n FROM executions GROUP BY status`;
  return withZeros(EXECUTION_STATUSES, rows);
}

export async function nodeRunStatusCounts(db: Db): Promise<Record<string, number>> {
  const rows = await db.$queryRaw<{ status: string; n: number }[]>`SELECT status::text AS status, count(*)::int AS n FROM node_runs GROUP BY status`;
  return withZeros(NODE_STATUSES, rows);
}

/** p50 and p95 duration (seconds) of node runs finished in the last hour, per node type. */
export async function nodeDurationQuantiles(db: Db): Promise<{ type: string; p50: number; p95: number }[]> {
  return db.$queryRaw<{ type: string; p50: number; p95: number }[]>`
    SELECT type,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))::float8 AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))::float8 AS p95
    FROM node_runs
    WHERE finished_at >= now() - interval '1 hour' AND started_at IS NOT NULL
    GROUP BY type`;
}

function withZeros(statuses: readonly string[], rows: { status: string; n: number }[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(statuses.map((s) => [s, 0]));
  for (const row of rows) counts[row.status] = row.n;
  return counts;
}
