import { isDeepStrictEqual } from 'node:util';
import type { Db } from '../../src/db/client';
import type { DagRunState } from '../../src/contracts/dag-workflow';

/**
 * Every way the Postgres mirror of one run differs from Temporal's own view of it (the
 * workflow's `state` query): run status, and per node status, attempt, output, error and times.
 * An empty list means the mirror matches exactly.
 */
export async function mirrorMismatches(db: Db, executionId: string, state: DagRunState): Promise<string[]> {
  const row = await db.execution.findUnique({ where: { id: executionId }, include: { nodeRuns: true } });
  if (!row) return [`${executionId}: no execution row`];
  const problems: string[] = [];
  if (row.status !== state.status) problems.push(`${executionId}: execution status ${row.status}, Temporal says ${state.status}`);
  const rows = new Map(row.nodeRuns.map((n) => [n.nodeId, n]));
  for (const [nodeId, node] of Object.entries(state.nodes)) {
    const mirrored = rows.get(nodeId);
    rows.delete(nodeId);
    if (!mirrored) {
      if (node.status !== 'PENDING') problems.push(`${executionId}/${nodeId}: no node_runs row, Temporal says ${node.status}`);
      continue;
    }
    const expected = {
      type: node.type,
      status: node.status,
      attempt: node.attempt,
      output: node.output ?? null,
      error: node.error ?? null,
      startedAt: node.startedAt ?? null,
      finishedAt: node.finishedAt ?? null,
    };
    const actual = {
      type: mirrored.type,
      status: mirrored.status,
      attempt: mirrored.attempt,
      output: mirrored.output,
      error: mirrored.error,
      startedAt: mirrored.startedAt?.toISOString() ?? null,
      finishedAt: mirrored.finishedAt?.toISOString() ?? null,
    };
    for (const key of Object.keys(expected) as (keyof typeof expected)[]) {
      if (!isDeepStrictEqual(actual[key], expected[key])) {
        problems.push(`${executionId}/${nodeId}: ${key} is ${JSON.stringify(actual[key])} in Postgres, ${JSON.stringify(expected[key])} in Temporal`);
      }
    }
  }
  for (const nodeId of rows.keys()) problems.push(`${executionId}/${nodeId}: node_runs row for a node Temporal does not know`);
  return problems;
}
