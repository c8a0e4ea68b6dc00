import type { ErrorInfo, NodeStatus } from '../domain/definition';

/**
 * A node's terminal result as the interpreter records it. Map and loop child workflows return
 * one (IterationResult), so recorded histories carry this shape.
 */
export interface Settled {
  status: NodeStatus;
  output?: unknown;
  error?: ErrorInfo;
  attempt?: number;
  branchValue?: unknown;
  /** The node's activity wrote this SUCCEEDED state to the mirror itself (its ticket asked to confirm), finished then. */
  mirrored?: { finishedAt: string };
  /** A test run's mock settled the node instead of running it (workflows/node-mocks.ts). */
  mocked?: true;
}
