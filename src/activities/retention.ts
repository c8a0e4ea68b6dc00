import type { Db } from '../db/client';
import { deleteExpiredRuns, deleteOrphanedOutputs } from '../mirror';
import type { RetentionActivities } from '../contracts/retention';

/** The retention workflow's activities; `defaultMs` is TRELLIS_RETENTION (null: keep runs whose definition says nothing). */
export function createRetentionActivities(db: Db, defaultMs: number | null): RetentionActivities {
  return {
    deleteExpiredRuns: ({ limit }) => deleteExpiredRuns(db, { defaultMs, limit: boundedLimit(limit) }),
    deleteOrphanedOutputs: ({ limit }) => deleteOrphanedOutputs(db, boundedLimit(limit)),
  };
}

/** A batch stays one short statement whatever the workflow asks. */
function boundedLimit(limit: number): number {
  return Math.min(Math.max(1, Math.floor(limit) || 1), 5_000);
}
