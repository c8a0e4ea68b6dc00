/** The retention workflow's activities (src/activities/retention.ts). Names are part of histories: keep them. */
export interface RetentionActivities {
  /**
   * One bounded step: at most `limit` rows deleted across runs, node runs, map items and stored
   * outputs of expired runs. `rows` below `limit`: nothing expired is left for now.
   */
  deleteExpiredRuns(request: { limit: number }): Promise<{ runs: number; rows: number }>;
  /** Looks at the next `limit` stored outputs after `after` (by id) and deletes those no run owns; `next`: where to go on. */
  deleteOrphanedOutputs(request: { limit: number; after?: string }): Promise<{ deleted: number; next?: string }>;
}

export interface RetentionWorkflowInput {
  /** Rows per step of expired runs (default 500). */
  batchSize?: number;
  /** Stored outputs looked at per step of the orphan sweep (default 5,000). */
  sweepSize?: number;
  /** Steps of each kind per run of the workflow (default 200): the next scheduled run goes on. */
  maxBatches?: number;
}

export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';
/** The Temporal Schedule that runs retention every TRELLIS_RETENTION_INTERVAL, once per deployment. */
export const RETENTION_SCHEDULE_ID = 'trellis-retention';
