import type { Db } from '../db/client';

export const EXECUTION_STATUSES = ['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const;
export type ExecutionStatusName = (typeof EXECUTION_STATUSES)[number];

export interface WorkflowStats {
  total: number;
  byStatus: Record<ExecutionStatusName, number>;
  /** SUCCEEDED / finished runs; null when none finished. */
  successRate: number | null;
  avgDurationMs: number | null;
  p95DurationMs: number | null;
}

/** Counts and durations of one workflow's runs started since `since`, aggregated in Postgres. */
export async function workflowStats(db: Db, tenantId: string, workflowId: string, since: Date): Promise<WorkflowStats> {
  const [counts, durations] = await Promise.all([
    db.$queryRaw<{ status: ExecutionStatusName; n: number }[]>`
      SELECT status::text AS status, count(*)::int AS n
      FROM executions
      WHERE tenant_id = ${tenantId}::uuid AND workflow_id = ${workflowId} AND started_at >= ${since}
      GROUP BY status`,
    db.$queryRaw<{ avg: number | null; p95: number | null }[]>`
      SELECT avg(ms)::float8 AS avg, percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::float8 AS p95
      FROM (
        SELECT extract(epoch FROM finished_at - started_at) * 1000 AS ms
        FROM executions
        WHERE tenant_id = ${tenantId}::uuid AND workflow_id = ${workflowId} AND started_at >= ${since}
          AND finished_at IS NOT NULL
      ) finished`,
  ]);
  const byStatus = Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, 0])) as Record<ExecutionStatusName, number>;
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
