import type { ErrorInfo } from '../domain/definition';
import type { MapItemStatus } from '../domain/status';

/** One map item (or loop iteration) as the mirror keeps it. */
export interface MapItemRow {
  index: number;
  status: MapItemStatus;
  attempt: number;
  output?: unknown;
  error?: ErrorInfo;
  startedAt?: string;
  finishedAt?: string;
}

export interface MapItemsBatch {
  /** The run's execution id (the root workflow's id, also for items run in children). */
  executionId: string;
  nodeId: string;
  items: MapItemRow[];
  /** Loops: keep only the last this many iterations. */
  keepLast?: number;
  /**
   * The workflow that ran these items (the console links each item to it): the run's own
   * workflow for small maps, the map child or one of its batch children for large ones.
   * Absent from workers that predate it.
   */
  workflowId?: string;
  /** That workflow's run id (the generation that ran them, for workflows that continue as new). */
  runId?: string;
}

export interface MapItemsActivities {
  recordMapItems(batch: MapItemsBatch): Promise<void>;
}
