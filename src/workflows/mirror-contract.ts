import type { ErrorInfo, ExecutionStatus } from '../domain/definition';
import type { NodeState } from './contract';

/**
 * One state written to the Postgres mirror. Each carries the full state of its node (or run)
 * and the run's sequence number, so applying only the newest is enough and an older write that
 * arrives late never overwrites a newer one.
 */
export interface NodeTransition extends NodeState {
  seq: number;
  nodeId: string;
}

export interface RunTransition {
  seq: number;
  status: ExecutionStatus;
  output?: unknown;
  error?: ErrorInfo;
  finishedAt?: string;
}

export interface RecordRunRequest {
  executionId: string;
  temporalRunId: string;
  workflowId: string;
  version: number;
  input: unknown;
  startedAt: string;
  /** Set when a Temporal Schedule started the run (its schedule id). */
  scheduleId?: string;
}

export interface MirrorBatch {
  executionId: string;
  nodes: NodeTransition[];
  run?: RunTransition;
}

export interface MirrorActivities {
  /** Makes sure the execution row exists (runs started outside the API too); false when the workflow is not stored. */
  recordRun(request: RecordRunRequest): Promise<boolean>;
  mirrorTransitions(batch: MirrorBatch): Promise<void>;
}
