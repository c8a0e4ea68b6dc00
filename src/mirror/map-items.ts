import type { Db } from '../db/client';
import type { MapItemStatus } from '../domain/status';
import { notifyItems } from './notify';
import { storable } from './storable';

/** One map item (or loop iteration) as the workflow reports it; matches src/workflows/map-items-contract.ts. */
export interface MapItemWrite {
  index: number;
  status: MapItemStatus;
  attempt: number;
  output?: unknown;
  error?: unknown;
  startedAt?: string;
  finishedAt?: string;
}

export interface MapItemsWrite {
  executionId: string;
  nodeId: string;
  items: MapItemWrite[];
  /** Loops: keep only the last this many iterations. */
  keepLast?: number;
  /** The Temporal workflow (and run) that ran these items. */
  workflowId?: string;
  runId?: string;
}

/**
 * Map items in the Postgres mirror: one row per item, written in batches by the workflow that
 * ran them (one transaction per batch). Runs that are not mirrored (no execution row) write nothing.
 */
export async function writeMapItems(db: Db, batch: MapItemsWrite): Promise<void> {
  if (batch.items.length === 0) return;
  const rows = JSON.stringify(storable(batch.items.map((i) => ({ ...i, output: i.output ?? null, error: i.error ?? null }))));
  await db.$transaction([
    db.$executeRaw`
      INSERT INTO map_items (execution_id, node_id, index, status, attempt, output, error, started_at, finished_at, workflow_id, run_id)
      SELECT ${batch.executionId}, ${batch.nodeId}, r.index, r.status::"NodeRunStatus", r.attempt, r.output, r.error,
             r."startedAt", r."finishedAt", ${batch.workflowId ?? null}::text, ${batch.runId ?? null}::text
      FROM jsonb_to_recordset(${rows}::jsonb)
        AS r(index int, status text, attempt int, output jsonb, error jsonb, "startedAt" timestamptz, "finishedAt" timestamptz)
      WHERE EXISTS (SELECT 1 FROM executions WHERE id = ${batch.executionId})
      ON CONFLICT (execution_id, node_id, index) DO UPDATE SET
        status = EXCLUDED.status, attempt = EXCLUDED.attempt, output = EXCLUDED.output, error = EXCLUDED.error,
        started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
        workflow_id = EXCLUDED.workflow_id, run_id = EXCLUDED.run_id`,
    ...(batch.keepLast !== undefined
      ? [db.$executeRaw`DELETE FROM map_items WHERE execution_id = ${batch.executionId} AND node_id = ${batch.nodeId} AND index <= ${Math.max(...batch.items.map((i) => i.index)) - batch.keepLast}`]
      : []),
    // Live listeners (SSE) learn that this node's counts moved; one notification per batch.
    db.$executeRaw`SELECT ${notifyItems(batch.executionId, batch.nodeId)}`,
  ]);
}

export interface MapItemCounts {
  /** Items finished so far (items are recorded as they finish). */
  recorded: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface MapItemView {
  index: number;
  status: MapItemStatus;
  attempt: number;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: unknown;
  /** The Temporal workflow (and run) that ran the item; null for rows written before it was recorded. */
  workflowId: string | null;
  runId: string | null;
}

/** A node's item counts by status. */
export async function mapItemCounts(db: Db, executionId: string, nodeId: string): Promise<MapItemCounts> {
  const grouped = await db.mapItem.groupBy({ by: ['status'], where: { executionId, nodeId }, _count: { _all: true } });
  const count = (status: MapItemStatus) => grouped.find((g) => g.status === status)?._count._all ?? 0;
  return {
    recorded: grouped.reduce((n, g) => n + g._count._all, 0),
    succeeded: count('SUCCEEDED'),
    failed: count('FAILED'),
    cancelled: count('CANCELLED'),
  };
}

/** Up to `limit` items past index `after` (in index order), optionally of one status. */
export async function mapItemRows(
  db: Db,
  query: { executionId: string; nodeId: string; status?: MapItemStatus; after?: number; limit: number },
): Promise<MapItemView[]> {
  const rows = await db.mapItem.findMany({
    where: {
      executionId: query.executionId,
      nodeId: query.nodeId,
      ...(query.status && { status: query.status }),
      ...(query.after !== undefined && { index: { gt: query.after } }),
    },
    orderBy: { index: 'asc' },
    take: query.limit,
  });
  return rows.map((r) => ({
    index: r.index,
    status: r.status as MapItemStatus,
    attempt: r.attempt,
    startedAt: r.startedAt?.toISOString() ?? null,
    finishedAt: r.finishedAt?.toISOString() ?? null,
    output: r.output,
    error: r.error,
    workflowId: r.workflowId,
    runId: r.runId,
  }));
}
