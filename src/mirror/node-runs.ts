import type { Db } from '../db/client';
import type { NodeStatus } from '../domain/status';
import type { ExecutionRow, NodeRunRow } from './views';

/** Every node row of a run (in no particular order). */
export async function nodeRuns(db: Db, executionId: string): Promise<NodeRunRow[]> {
  return db.nodeRun.findMany({ where: { executionId } });
}

/** One node's type and status, or null when the run has no row for it yet. */
export async function nodeRunState(db: Db, executionId: string, nodeId: string): Promise<{ type: string; status: NodeStatus } | null> {
  return db.nodeRun.findUnique({ where: { executionId_nodeId: { executionId, nodeId } }, select: { type: true, status: true } });
}

/**
 * What a retry of this run reuses: the outputs of nodes that SUCCEEDED (by node id, sorted), and
 * the outputs of map nodes that FAILED or were CANCELLED (their items' results: only the items
 * that did not succeed run again).
 */
export async function reusableOutputs(db: Db, executionId: string): Promise<{ reuse: Record<string, unknown>; reuseItems: Record<string, unknown> }> {
  const [succeeded, maps] = await Promise.all([
    db.nodeRun.findMany({ where: { executionId, status: 'SUCCEEDED' }, select: { nodeId: true, output: true }, orderBy: { nodeId: 'asc' } }),
    db.nodeRun.findMany({ where: { executionId, type: 'map', status: { in: ['FAILED', 'CANCELLED'] } }, select: { nodeId: true, output: true } }),
  ]);
  return {
    reuse: Object.fromEntries(succeeded.map((run) => [run.nodeId, run.output])),
    reuseItems: Object.fromEntries(maps.filter((run) => run.output !== null).map((run) => [run.nodeId, run.output])),
  };
}

/**
 * The run row and the node rows past `since` (in seq order), from one snapshot of the database:
 * read apart, a run write committed between the two reads could sit below a node seq already
 * sent, and be skipped. Undefined when the run's row is gone.
 */
export async function transitionsSince(
  db: Db,
  executionId: string,
  since: number,
): Promise<{ run: ExecutionRow; nodes: NodeRunRow[] } | undefined> {
  const [run, nodes] = await db.$transaction(
    [
      db.execution.findUnique({ where: { id: executionId } }),
      db.nodeRun.findMany({ where: { executionId, lastSeq: { gt: since } }, orderBy: [{ lastSeq: 'asc' }, { nodeId: 'asc' }] }),
    ],
    { isolationLevel: 'RepeatableRead' },
  );
  return run ? { run, nodes } : undefined;
}
