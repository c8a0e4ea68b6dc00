/** The retention workflow's activities (src/activities/retention.ts). Names are part of histories: keep them. */
export interface RetentionActivities {
  /** Deletes one bounded batch of expired runs (with node runs, map items, outputs); returns how many. */
  deleteExpiredRuns(request: { limit: number }): Promise<number>;
  /** Deletes one bounded batch of stored outputs whose run is gone; returns how many. */
  deleteOrphanedOutputs(request: { limit: number }): Promise<number>;
}

export interface RetentionWorkflowInput {
  /** Rows per batch (default 500). */
  batchSize?: number;
  /** Batches per run of the workflow (default 100): the next scheduled run goes on. */
  maxBatches?: number;
}

export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';
/** The Temporal Schedule that runs retention every TRELLIS_RETENTION_INTERVAL, once per deployment. */
export const RETENTION_SCHEDULE_ID = 'trellis-retention';
