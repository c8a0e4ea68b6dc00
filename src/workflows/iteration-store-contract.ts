import type { ExpressionContext } from '../domain/expressions';
import type { ItemRange } from '../domain/iteration';

/** A stored value (Postgres `output_blobs`), as the output store's references look. */
export interface StoredRef {
  $trellisRef: string;
  sizeBytes: number;
}

/** One batch's items: inline when small or when there is no store, else by reference. */
export interface ItemsChunk extends ItemRange {
  items?: unknown[];
  ref?: StoredRef;
}

export interface EvaluateItemsRequest {
  executionId: string;
  nodeId: string;
  expression: string;
  context: ExpressionContext;
  maxItems: number;
  batchSize: number;
  batchBytes: number;
}

export type EvaluatedItems = { total: number; chunks: ItemsChunk[] } | { error: { type: string; message: string } };

/** One batch's results: inline, or stored when they would weigh on the coordinator's history. */
export interface ResultsChunk extends ItemRange {
  results?: unknown[];
  ref?: StoredRef;
}

/**
 * Claim-check for map nodes: items and results too large for a workflow history live in
 * Postgres and travel as references. Without a database the values stay inline.
 */
export interface IterationStoreActivities {
  /** Evaluates `items` outside the workflow (it reads stored outputs, or yields a large list) and stores it in batches. */
  evaluateMapItems(request: EvaluateItemsRequest): Promise<EvaluatedItems>;
  loadMapItems(chunk: ItemsChunk): Promise<unknown[]>;
  storeMapResults(request: { executionId: string; nodeId: string; chunk: ResultsChunk }): Promise<ResultsChunk>;
  /** Joins every batch's results: inline when at most `inlineBytes`, else one stored value. */
  assembleMapResults(request: { executionId: string; nodeId: string; chunks: ResultsChunk[]; inlineBytes: number }): Promise<unknown[] | StoredRef>;
}
