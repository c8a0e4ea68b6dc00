import type { Db } from '../db/client';
import type { DroppedStart, DroppedStartActivities } from '../contracts/dropped-starts';

/**
 * Records a start dropped by run-level concurrency (src/contracts/dropped-starts.ts). One
 * transaction: the run's row goes (with its node rows, by cascade) and its schedule's
 * `dropped_starts` counts it. Counted only when a row was deleted, so a retried attempt counts once.
 */
export function createDroppedStartActivities(db: Db | undefined, onDropped?: (start: DroppedStart) => void): DroppedStartActivities {
  return {
    async recordDroppedStart(start) {
      if (!db) {
        onDropped?.(start);
        return false;
      }
      const deleted = await db.$transaction(async (tx) => {
        const { count } = await tx.execution.deleteMany({ where: { id: start.executionId, tenantId: start.tenantId, status: { in: ['QUEUED', 'RUNNING'] } } });
        if (count > 0) {
          await tx.schedule.updateMany({
            where: { id: start.scheduleId, tenantId: start.tenantId },
            data: { droppedStarts: { increment: 1 }, lastDroppedAt: new Date() },
          });
        }
        return count > 0;
      });
      if (deleted) onDropped?.(start);
      return deleted;
    },
  };
}
