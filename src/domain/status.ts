/**
 * The status model (DESIGN.md §2), declared once: the API schemas, the mirror, the metrics, the
 * workflows and the console all import these lists. Postgres keeps the same values as enums
 * (prisma/schema.prisma); src/mirror/status-check.ts fails the build if the two drift apart.
 * Pure data: the console (ui/) imports this file too.
 */

/** An execution (a run of a workflow): QUEUED while a run-level concurrency limit holds it (§5), RUNNING, then one terminal status. */
export const EXECUTION_STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/** Every execution status but QUEUED and RUNNING: the run is over. */
export const TERMINAL_EXECUTION_STATUSES = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const;
export type TerminalExecutionStatus = (typeof TERMINAL_EXECUTION_STATUSES)[number];

/** Runs that ended without succeeding: the ones POST /executions/:id/retry accepts. */
export const RETRYABLE_EXECUTION_STATUSES = ['FAILED', 'CANCELLED', 'TIMED_OUT'] as const;

/** A run not over yet: what cancel, pause and live streams accept. */
export const OPEN_EXECUTION_STATUSES = ['QUEUED', 'RUNNING'] as const;
export function isOpenExecution(status: ExecutionStatus): boolean {
  return status === 'QUEUED' || status === 'RUNNING';
}

/** A node run: PENDING → RUNNING | WAITING → one terminal status. */
export const NODE_STATUSES = ['PENDING', 'RUNNING', 'WAITING', 'SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];

export const TERMINAL_NODE_STATUSES = ['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'] as const;
export type TerminalNodeStatus = (typeof TERMINAL_NODE_STATUSES)[number];

/** Node statuses that are not final yet (the reconciler cancels these when a run ended outside the workflow). */
export const OPEN_NODE_STATUSES = ['PENDING', 'RUNNING', 'WAITING'] as const;

/** A map item (or loop iteration) is recorded once it finished, so only these. */
export const MAP_ITEM_STATUSES = ['SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type MapItemStatus = (typeof MAP_ITEM_STATUSES)[number];

/** How a run was started. */
export const EXECUTION_TRIGGERS = ['MANUAL', 'SCHEDULE', 'RETRY', 'WEBHOOK', 'EXTERNAL', 'RERUN'] as const;
export type ExecutionTrigger = (typeof EXECUTION_TRIGGERS)[number];

const TERMINAL_NODE: ReadonlySet<string> = new Set(TERMINAL_NODE_STATUSES);
const TERMINAL_EXECUTION: ReadonlySet<string> = new Set(TERMINAL_EXECUTION_STATUSES);

/** Whether a node run is final (nothing will change it again). */
export function isTerminal(status: NodeStatus): boolean {
  return TERMINAL_NODE.has(status);
}

export function isTerminalExecution(status: ExecutionStatus): boolean {
  return TERMINAL_EXECUTION.has(status);
}
