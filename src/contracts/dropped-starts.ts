/*
 * A start refused by run-level concurrency with onLimit "drop" (DESIGN.md §5). The API refuses
 * its own starts (409 CONCURRENCY_LIMITED, or a webhook's answered DROPPED) before creating the
 * run; a schedule's run, which Temporal starts itself, learns it is dropped only from its
 * limiter, and then records the drop through this activity: its row is deleted (no run) and
 * the drop is counted on its schedule.
 */

export interface DroppedStart {
  /** The run's execution id (its Temporal workflow id). */
  executionId: string;
  tenantId: string;
  workflowId: string;
  /** The schedule that started it (Temporal's TemporalScheduledById). */
  scheduleId: string;
  key: string;
  reason: string;
}

export interface DroppedStartActivities {
  /** Deletes the dropped run's row and counts the drop on its schedule; true when a row was deleted. */
  recordDroppedStart(start: DroppedStart): Promise<boolean>;
}
