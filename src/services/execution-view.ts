import type { Db } from '../db/client';
import type { Execution, NodeRun } from '../generated/prisma/client';
import { isTerminal, type NodeStatus, type WorkflowDefinition } from '../domain/definition';
import { notFound } from './errors';
import type { TemporalGateway } from '../temporal/gateway';
import type { DagRunState } from '../workflows/contract';
import { toExecutionSummary, type ExecutionSummary } from './runs';
import { withTimeout } from '../util/timeout';
import { approvalPrompts, withRetryInfo, type ApprovalPrompt, type RetryInfo } from './node-insight';

/** How long GET /executions/:id?live=1 waits for the workflow's query before answering from the mirror alone. */
export const LIVE_QUERY_TIMEOUT_MS = 3_000;

export interface NodeView {
  nodeId: string;
  type: string;
  status: NodeStatus;
  attempt: number;
  startedAt: string | null;
  finishedAt: string | null;
  output: unknown;
  error: unknown;
  /** With ?live=1, for a node Temporal is running or retrying: the real attempt, last failure, next retry. */
  retry?: RetryInfo;
  /** For an approval node that waits: the rendered message and the deadline. */
  approval?: ApprovalPrompt;
}

export interface ExecutionDetail extends ExecutionSummary {
  input: unknown;
  output: unknown;
  error: unknown;
  progress: { total: number; done: number };
  nodes: NodeView[];
  /** Temporal's run id, once the run has recorded itself: the Web UI's address of the run needs it. */
  temporalRunId: string | null;
  /** Present only when live state was asked for: whether the workflow's query answered. */
  live?: boolean;
}

/** The tenant's execution, or 404 (also for another tenant's: ids must not leak across tenants). */
export async function findExecution(db: Db, tenantId: string, id: string): Promise<Execution> {
  const row = await db.execution.findFirst({ where: { id, tenantId } });
  if (!row) throw notFound(`execution ${id}`);
  return row;
}

/** The definition the run is pinned to; undefined only if its version row is gone. */
export async function pinnedDefinition(db: Db, execution: Pick<Execution, 'workflowId' | 'version'>): Promise<WorkflowDefinition | undefined> {
  const row = await db.workflowVersion.findUnique({
    where: { workflowId_version: { workflowId: execution.workflowId, version: execution.version } },
    select: { definition: true },
  });
  return row ? (row.definition as unknown as WorkflowDefinition) : undefined;
}

export async function executionDetail(
  deps: { db: Db; temporal: TemporalGateway },
  tenantId: string,
  id: string,
  options: { live?: boolean } = {},
): Promise<ExecutionDetail> {
  const execution = await findExecution(deps.db, tenantId, id);
  const [definition, rows] = await Promise.all([
    pinnedDefinition(deps.db, execution),
    deps.db.nodeRun.findMany({ where: { executionId: id } }),
  ]);
  let nodes = nodeList(definition, rows);
  let status = execution.status;
  let error: unknown = execution.error;
  let live: boolean | undefined;
  let temporalRunId: string | undefined;
  if (options.live) {
    const [state, description] = await Promise.all([liveState(deps.temporal, id), describeRun(deps.temporal, id)]);
    temporalRunId = description?.runId;
    live = state !== undefined;
    if (state) {
      nodes = mergeLive(nodes, state);
      // The mirror trails the workflow by at most a few writes; a finished query result is newer.
      if (status === 'RUNNING' && state.status !== 'RUNNING') {
        status = state.status;
        error = state.error ?? error;
      }
    }
    if (status === 'RUNNING') nodes = withRetryInfo(nodes, description?.pendingActivities);
  }
  const prompts = await approvalPrompts(definition, nodes, {
    id,
    workflowId: execution.workflowId,
    version: execution.version,
    startedAt: execution.startedAt.toISOString(),
    input: execution.input,
  });
  if (prompts.size > 0) nodes = nodes.map((n) => (prompts.has(n.nodeId) ? { ...n, approval: prompts.get(n.nodeId)! } : n));
  return {
    ...toExecutionSummary(execution),
    temporalRunId: execution.temporalRunId,
    status,
    input: execution.input,
    output: execution.output,
    error,
    progress: { total: definition ? definition.nodes.length : nodes.length, done: nodes.filter((n) => isTerminal(n.status)).length },
    nodes,
    ...(live === undefined ? {} : { live }),
    ...(temporalRunId === undefined ? {} : { temporalRunId }),
  };
}

/**
 * Every node of the definition in definition order: its mirror row, or PENDING when the run has
 * not reached it yet (the workflow writes a row only once a node starts or settles).
 */
export function nodeList(definition: WorkflowDefinition | undefined, rows: NodeRun[]): NodeView[] {
  const byId = new Map(rows.map((row) => [row.nodeId, row]));
  const views: NodeView[] = [];
  for (const node of definition?.nodes ?? []) {
    const row = byId.get(node.id);
    byId.delete(node.id);
    views.push(row ? rowView(row) : pendingView(node.id, node.type));
  }
  // Rows for nodes the definition does not list should not exist; show them rather than hide data.
  for (const row of byId.values()) views.push(rowView(row));
  return views;
}

/** Query state over mirror rows: a row that is already terminal is final, anything else may be stale. */
export function mergeLive(nodes: NodeView[], state: DagRunState): NodeView[] {
  return nodes.map((view) => {
    const fresh = state.nodes[view.nodeId];
    if (!fresh || isTerminal(view.status)) return view;
    return {
      nodeId: view.nodeId,
      type: fresh.type || view.type,
      status: fresh.status,
      attempt: fresh.attempt,
      startedAt: fresh.startedAt ?? view.startedAt,
      finishedAt: fresh.finishedAt ?? view.finishedAt,
      output: fresh.output ?? view.output,
      error: fresh.error ?? view.error,
    };
  });
}

/** The workflow's `state` query, or undefined when it fails, is unknown or takes too long: live data is a bonus. */
async function liveState(temporal: TemporalGateway, id: string): Promise<DagRunState | undefined> {
  return withTimeout(temporal.queryState(id), LIVE_QUERY_TIMEOUT_MS).catch(() => undefined);
}

/** Temporal's description of the run (run id, pending activities), or undefined when it fails or is slow: a bonus, like the query. */
async function describeRun(temporal: TemporalGateway, id: string) {
  return withTimeout(temporal.describe(id), LIVE_QUERY_TIMEOUT_MS).catch(() => undefined);
}

function rowView(row: NodeRun): NodeView {
  return {
    nodeId: row.nodeId,
    type: row.type,
    status: row.status,
    attempt: row.attempt,
    startedAt: row.startedAt ? row.startedAt.toISOString() : null,
    finishedAt: row.finishedAt ? row.finishedAt.toISOString() : null,
    output: row.output,
    error: row.error,
  };
}

function pendingView(nodeId: string, type: string): NodeView {
  return { nodeId, type, status: 'PENDING', attempt: 0, startedAt: null, finishedAt: null, output: null, error: null };
}
