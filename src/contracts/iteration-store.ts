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

/** Stored values belong to the run's tenant: saved with it, and loaded only for it. */
export interface TenantScoped {
  tenantId?: string;
}

export interface EvaluateItemsRequest extends TenantScoped {
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

/** An expression that reads outputs stored by reference, evaluated where they can be loaded. */
export interface StoredReadRequest extends TenantScoped {
  expression: string;
  context: ExpressionContext;
  /** The node ids whose stored outputs to load (the others stay as they are). */
  load: string[];
  /** Largest result, as JSON, the workflow takes inline. */
  maxBytes: number;
}

export type StoredReadResult = { value: unknown } | { error: { type: string; message: string } };

/**
 * Claim-check for map nodes and large outputs: items and results too large for a workflow history live in
 * Postgres and travel as references. Without a database the values stay inline.
 */
export interface IterationStoreActivities {
  /** Evaluates `items` outside the workflow (it reads stored outputs, or yields a large list) and stores it in batches. */
  evaluateMapItems(request: EvaluateItemsRequest): Promise<EvaluatedItems>;
  loadMapItems(chunk: ItemsChunk, scope?: TenantScoped): Promise<unknown[]>;
  storeMapResults(request: { executionId: string; nodeId: string; chunk: ResultsChunk } & TenantScoped): Promise<ResultsChunk>;
  /** Stores each inline chunk (one row each); chunks already stored come back as they are. */
  storeResultChunks(request: { executionId: string; nodeId: string; chunks: ResultsChunk[] } & TenantScoped): Promise<ResultsChunk[]>;
  /** Joins every batch's results: inline when at most `inlineBytes`, else one stored value. */
  /** Evaluates an expression over stored outputs (the workflow cannot read them); see domain/stored-reads.ts. */
  evaluateOverStoredOutputs(request: StoredReadRequest): Promise<StoredReadResult>;
  assembleMapResults(request: { executionId: string; nodeId: string; chunks: ResultsChunk[]; inlineBytes: number } & TenantScoped): Promise<unknown[] | StoredRef>;
}
