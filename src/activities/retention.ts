import type { Db } from '../db/client';
import { deleteExpiredRuns, deleteOrphanedOutputs } from '../mirror';
import type { RetentionActivities } from '../contracts/retention';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The retention workflow's activities; `defaultMs` is TRELLIS_RETENTION (null: keep runs whose definition says nothing). */
export function createRetentionActivities(db: Db, defaultMs: number | null): RetentionActivities {
  return {
    deleteExpiredRuns: ({ limit }) => deleteExpiredRuns(db, { defaultMs, limit: boundedLimit(limit, 5_000) }),
    deleteOrphanedOutputs: ({ limit, after }) =>
      deleteOrphanedOutputs(db, { limit: boundedLimit(limit, 50_000), ...(after !== undefined && UUID.test(after) ? { after } : {}) }),
  };
}

/** A step stays one short transaction whatever the workflow asks. */
function boundedLimit(limit: number, max: number): number {
  return Math.min(Math.max(1, Math.floor(limit) || 1), max);
}
