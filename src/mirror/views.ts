import type { WaitingFor } from '../domain/flow-control';
import type { Execution, NodeRun } from '../generated/prisma/client';
import type { ExecutionStatus, ExecutionTrigger, NodeStatus } from '../domain/status';

/** Mirror rows as the mirror's readers get them. */
export type ExecutionRow = Execution;
export type NodeRunRow = NodeRun;

/**
 * The JSON shapes of mirror rows, one mapping each: GET /executions, GET /executions/:id and
 * the SSE stream all show a run and its nodes through these.
 */
export interface ExecutionSummary {
  id: string;
  workflowId: string;
  version: number;
  status: ExecutionStatus;
  trigger: ExecutionTrigger;
  idempotencyKey: string | null;
  retryOf: string | null;
  /** The run this one reruns (trigger RERUN; kept in the same column as retryOf). */
  rerunOf: string | null;
  /** Started with mocks (DESIGN.md §6): listed only with ?test=true, left out of stats. */
  test: boolean;
  createdAt: string;
  startedAt: string;
  finishedAt: string | null;
  /** A pause holds the run (DESIGN.md §6); only an open run is paused. */
  paused: boolean;
  pausedAt: string | null;
  pausedBy: string | null;
}

type SummaryRow = Pick<
  Execution,
  'id' | 'workflowId' | 'version' | 'status' | 'trigger' | 'idempotencyKey' | 'retryOf' | 'createdAt' | 'startedAt' | 'finishedAt' | 'pausedAt' | 'pausedBy'
> & { test?: boolean };

export function toExecutionSummary(row: SummaryRow): ExecutionSummary {
  return {
    id: row.id,
    workflowId: row.workflowId,
    version: row.version,
    status: row.status,
    trigger: row.trigger,
    idempotencyKey: row.idempotencyKey,
    retryOf: row.trigger === 'RERUN' ? null : row.retryOf,
    rerunOf: row.trigger === 'RERUN' ? row.retryOf : null,
    test: row.test === true,
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt.toISOString(),
    finishedAt: iso(row.finishedAt),
    ...pauseView(row),
  };
}

/** The run's pause as the API shows it: a finished run is never paused, whatever a late write left. */
export function pauseView(row: Pick<Execution, 'status' | 'pausedAt' | 'pausedBy'>): Pick<ExecutionSummary, 'paused' | 'pausedAt' | 'pausedBy'> {
  const paused = (row.status === 'RUNNING' || row.status === 'QUEUED') && row.pausedAt !== null;
  return { paused, pausedAt: paused ? iso(row.pausedAt) : null, pausedBy: paused ? row.pausedBy : null };
}

/** A node run as the API shows it. */
export interface NodeRunView {
  nodeId: string;
  type: string;
  status: NodeStatus;
  attempt: number;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: unknown;
  /** While WAITING for its turn under a limit (DESIGN.md §2). */
  waitingFor?: WaitingFor;
  /** A test run's mock settled the node instead of running it (DESIGN.md §6). */
  mocked?: true;
}

export function nodeRunView(row: NodeRun): NodeRunView {
  return {
    nodeId: row.nodeId,
    type: row.type,
    status: row.status,
    attempt: row.attempt,
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    output: row.output,
    error: row.error,
    ...(row.status === 'WAITING' && row.waitingFor !== null && row.waitingFor !== undefined && { waitingFor: row.waitingFor as unknown as WaitingFor }),
    ...(row.mocked && { mocked: true as const }),
  };
}

/** A node the run has not reached: the workflow writes a row only once a node starts or settles. */
export function pendingNodeRunView(nodeId: string, type: string): NodeRunView {
  return { nodeId, type, status: 'PENDING', attempt: 0, startedAt: null, finishedAt: null, output: null, error: null };
}

/** A run's transition as the SSE `run` event carries it. */
export function runTransitionView(row: Execution) {
  return { status: row.status, output: row.output, error: row.error, finishedAt: iso(row.finishedAt), ...pauseView(row) };
}

/** The run part of the SSE snapshot: the summary with the result. */
export function runSnapshotView(row: Execution) {
  return { ...toExecutionSummary(row), output: row.output, error: row.error };
}

function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}
