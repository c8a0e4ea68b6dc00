import type { ErrorInfo } from '../domain/definition';
import type { ExecutionStatus, NodeStatus } from '../domain/status';
import type { WaitingFor } from '../domain/flow-control';

/*
 * The status writes the workflow sends to the Postgres mirror, declared once for both sides: the
 * workflow's mirror contract (mirror.ts beside it) and the mirror that applies them
 * (src/mirror/transitions.ts). Pure types, so neither depends on the other.
 */

/** A node's state as the workflow tracks it, its state query reports it and the mirror stores it. */
export interface NodeState {
  type: string;
  status: NodeStatus;
  attempt: number;
  startedAt?: string;
  finishedAt?: string;
  output?: unknown;
  error?: ErrorInfo;
  /** While a WAITING node waits for its turn under a limit (DESIGN.md §2, §5). */
  waitingFor?: WaitingFor;
  /** A test run's mock settled the node instead of running it (DESIGN.md §6). */
  mocked?: true;
}

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
  /**
   * Set by a pause or a resume (null): the run's pause as the row keeps it. Absent: unchanged,
   * except that a final status clears it.
   */
  pause?: { at: string; by?: string } | null;
}

export interface MirrorBatch {
  executionId: string;
  nodes: NodeTransition[];
  run?: RunTransition;
}

/** The execution row a run makes sure of as it starts (runs started outside the API have none yet). */
export interface RecordRunRequest {
  executionId: string;
  temporalRunId: string;
  workflowId: string;
  version: number;
  input: unknown;
  startedAt: string;
  /** Set when a Temporal Schedule started the run (its schedule id). */
  scheduleId?: string;
  /** Started with mocks: a test run (listed only with ?test=true, left out of stats). */
  test?: true;
}
