import type { ErrorInfo, NodeDef, WorkflowDefinition } from '../domain/definition';
import type { ExpressionContext } from '../domain/expressions';
import type { MapPlan } from '../domain/iteration';
import type { ItemsChunk, ResultsChunk } from './iteration-store';
import type { Settled } from './settled';
import type { PauseState } from './run-pause';

/**
 * Inputs and results of the workflows a map or loop node starts when its work does not fit in
 * the history of the workflow it belongs to. Their ids derive from the execution id, the node id
 * and the item range (`<execution>.each_order`, `<execution>.each_order.0-249`), so each stays
 * recognisable in the Temporal Web UI.
 */

export const MAP_WORKFLOW_TYPE = 'mapWorkflow';
export const MAP_BATCH_WORKFLOW_TYPE = 'mapBatchWorkflow';
export const LOOP_WORKFLOW_TYPE = 'loopWorkflow';

/** What every iteration workflow needs to run bodies like its parent would. */
export interface IterationScope {
  node: NodeDef;
  /** The enclosing graph's expression context. */
  context: ExpressionContext;
  defaults: WorkflowDefinition['defaults'];
  /** Prefix of activity and child ids inside bodies (empty at the top level). */
  idPrefix: string;
  limits?: IterationLimits;
  /** The run's tenant and subworkflow depth: body nodes look things up within the tenant. */
  tenantId?: string;
  depth?: number;
  /** The parent's pause when it started this workflow (absent: never paused); later changes come as signals. */
  pause?: PauseState;
}

/**
 * Where map and loop work moves out of a workflow: tests and benchmarks lower these to reach
 * the child-workflow and continue-as-new paths with few items; runs use the defaults.
 */
export interface IterationLimits {
  /** Body operations (activities, timers, children) a node may run inside its own workflow. */
  inlineOperations?: number;
  /** Items per batch child. */
  batchSize?: number;
  /** History events after which a map or loop workflow continues as new. */
  historyEvents?: number;
  /** Inline batch results a map coordinator carries before it stores them (default 256 KB). */
  progressInlineBytes?: number;
}

/** The map coordinator: a sliding window of batch children; continues as new with its progress. */
export interface MapWorkflowInput extends IterationScope {
  total: number;
  /** The items in batches, inline or stored (large lists never enter a workflow history whole). */
  chunks: ItemsChunk[];
  output?: string;
  plan: MapPlan;
  tolerated: number;
  /** Retry from failure: results of items that succeeded before, by index. */
  reuse?: Record<string, unknown>;
  progress?: MapProgress;
}

export interface ItemFailure {
  index: number;
  error: ErrorInfo;
}

export interface MapProgress {
  /** Chunks before this one are finished. */
  nextChunk: number;
  /** Each finished chunk's results, inline or stored. */
  results: ResultsChunk[];
  failures: ItemFailure[];
  succeeded: number;
  /** Runs of the coordinator so far (continue-as-new count + 1). */
  generation: number;
}

export interface MapBatchInput extends IterationScope {
  chunk: ItemsChunk;
  output?: string;
  concurrency: number;
  maxFailures: number;
  /** Results reused from an earlier run, by index: those items do not run again. */
  reuse?: Record<string, unknown>;
}

/** Small on purpose: the coordinator's history holds one per batch. */
export interface MapBatchResult {
  succeeded: number;
  failures: ItemFailure[];
  results: ResultsChunk;
}

/** A loop's progress, carried across continue-as-new. */
export interface LoopProgress {
  iteration: number;
  last: unknown;
  /** The last `keepLast` iterations' results, oldest first. */
  kept: { iteration: number; result: unknown }[];
}

export interface LoopWorkflowInput extends IterationScope {
  progress?: LoopProgress;
}

/** A loop or map child reports like a node would; it fails only when cancelled. */
export type IterationResult = Settled;
