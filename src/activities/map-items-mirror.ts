import type { Db } from '../db/client';
import type { MapItemsActivities, MapItemsBatch } from '../workflows/map-items-contract';
import { EVENTS_CHANNEL, storable } from './mirror';

/**
 * Map items in the Postgres mirror: one row per item, written in batches by the workflow that
 * ran them (one statement per batch). Runs that are not mirrored (no execution row) write nothing.
 */
export function createMapItemsActivities(db?: Db): MapItemsActivities {
  return {
    async recordMapItems(batch: MapItemsBatch): Promise<void> {
      if (!db || batch.items.length === 0) return;
      const rows = JSON.stringify(storable(batch.items.map((i) => ({ ...i, output: i.output ?? null, error: i.error ?? null }))));
      await db.$transaction([
        db.$executeRaw`
          INSERT INTO map_items (execution_id, node_id, index, status, attempt, output, error, started_at, finished_at)
          SELECT ${batch.executionId}, ${batch.nodeId}, r.index, r.status::"NodeRunStatus", r.attempt, r.output, r.error,
                 r."startedAt", r."finishedAt"
          FROM jsonb_to_recordset(${rows}::jsonb)
            AS r(index int, status text, attempt int, output jsonb, error jsonb, "startedAt" timestamptz, "finishedAt" timestamptz)
          WHERE EXISTS (SELECT 1 FROM executions WHERE id = ${batch.executionId})
          ON CONFLICT (execution_id, node_id, index) DO UPDATE SET
            status = EXCLUDED.status, attempt = EXCLUDED.attempt, output = EXCLUDED.output, error = EXCLUDED.error,
            started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at`,
        ...(batch.keepLast !== undefined
          ? [db.$executeRaw`DELETE FROM map_items WHERE execution_id = ${batch.executionId} AND node_id = ${batch.nodeId} AND index <= ${Math.max(...batch.items.map((i) => i.index)) - batch.keepLast}`]
          : []),
        // Live listeners (SSE) learn that this node's counts moved; one notification per batch.
        db.$executeRaw`SELECT pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify({ executionId: batch.executionId, items: batch.nodeId })})`,
      ]);
    },
  };
}
