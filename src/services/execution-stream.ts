import type { Db } from '../db/client';
import type { ExecutionStatus } from '../domain/status';
import {
  mapItemCounts,
  nodeRunView,
  nodeRuns,
  runSnapshotView,
  runTransitionView,
  transitionsSince,
  type ExecutionRow,
  type MapItemCounts,
  type NodeRunRow,
  type NodeRunView,
} from '../mirror';
import { pinnedDefinition } from './execution-view';
import { approvalPrompts, type ApprovalPrompt } from './node-insight';

/** A node transition as the SSE stream sends it: the node's view (with the prompt of a waiting approval) and its seq. */
export interface NodeTransitionEvent {
  seq: number;
  data: NodeRunView & { approval?: ApprovalPrompt };
}

/** What GET /executions/:id/events reads from the mirror on each notice. */
export interface TransitionsRead {
  run: {
    seq: number;
    status: ExecutionStatus;
    /** The `run` part of a snapshot event. */
    snapshot: ReturnType<typeof runSnapshotView>;
    /** The data of a `run` event. */
    transition: ReturnType<typeof runTransitionView>;
  };
  /** Nodes written past `since`, in seq order. */
  nodes: NodeTransitionEvent[];
}

/** The run and its node transitions past `since` (one consistent read); undefined when the run's row is gone. */
export async function readTransitions(db: Db, executionId: string, since: number): Promise<TransitionsRead | undefined> {
  const rows = await transitionsSince(db, executionId, since);
  if (!rows) return undefined;
  const { run, nodes } = rows;
  const prompts = await promptsFor(db, run, nodes);
  return {
    run: { seq: run.lastSeq, status: run.status, snapshot: runSnapshotView(run), transition: runTransitionView(run) },
    nodes: nodes.map((row) => ({
      seq: row.lastSeq,
      data: prompts.has(row.nodeId) ? { ...nodeRunView(row), approval: prompts.get(row.nodeId)! } : nodeRunView(row),
    })),
  };
}

/** A map node's item counts (the SSE `items` event). */
export function itemCounts(db: Db, executionId: string, nodeId: string): Promise<MapItemCounts> {
  return mapItemCounts(db, executionId, nodeId);
}

/**
 * The rendered message and deadline of approval nodes that just started waiting. Rendering reads
 * the pinned definition and every node row (the message may use any upstream output), so it is
 * done only when such a node is in the batch.
 */
async function promptsFor(db: Db, run: ExecutionRow, batch: NodeRunRow[]): Promise<Map<string, ApprovalPrompt>> {
  if (!batch.some((n) => n.status === 'WAITING' && n.type === 'approval')) return new Map();
  const [definition, all] = await Promise.all([pinnedDefinition(db, run), nodeRuns(db, run.id)]);
  const context = { id: run.id, workflowId: run.workflowId, version: run.version, startedAt: run.startedAt.toISOString(), input: run.input };
  return approvalPrompts(definition, all.map(nodeRunView), context);
}
