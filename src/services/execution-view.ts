import type { Db } from '../db/client';
import { isTerminal, type WorkflowDefinition } from '../domain/definition';
import type { ExecutionStatus } from '../domain/status';
import { notFound } from './errors';
import { page, type Cursor } from '../util/pagination';
import type { TemporalGateway } from '../temporal/gateway';
import type { DagRunState } from '../contracts/dag-workflow';
import {
  findTenantExecution,
  listExecutions,
  nodeRunView,
  nodeAttempts,
  nodeRuns,
  pendingNodeRunView,
  type NodeAttemptView,
  toExecutionSummary,
  type ExecutionRow,
  type ExecutionSummary,
  type NodeRunRow,
  type NodeRunView,
} from '../mirror';
import { withTimeout } from '../util/timeout';
import { approvalPrompts, withRetryInfo, withTenantShareWaits, type ApprovalPrompt, type RetryInfo } from './node-insight';

/** Mirror reads the execution actions check before they signal (the approve node's state, what a retry reuses). */
export { nodeRunState, nodeRuns, reusableOutputs } from '../mirror';

/** How long GET /executions/:id?live=1 waits for the workflow's query before answering from the mirror alone. */
export const LIVE_QUERY_TIMEOUT_MS = 3_000;

/** A node as GET /executions/:id shows it: the mirror's view of its row, plus live extras. */
export interface NodeView extends NodeRunView {
  /** With ?live=1, for a node Temporal is running or retrying: the real attempt, last failure, next retry. */
  retry?: RetryInfo;
  /** For an approval node that waits: the rendered message and the deadline. */
  approval?: ApprovalPrompt;
  /** The node's failed attempts, oldest first (the last 20 kept), as the workers that ran them saw them. */
  failedAttempts: NodeAttemptView[];
  /** True for a node a retry or rerun did not run again: it settled with the earlier run's (or a given) output. */
  reused: boolean;
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
export async function findExecution(db: Db, tenantId: string, id: string): Promise<ExecutionRow> {
  const row = await findTenantExecution(db, tenantId, id);
  if (!row) throw notFound(`execution ${id}`);
  return row;
}

/** The tenant's runs, newest first, filtered; a page and the cursor of the next. */
export async function listExecutionSummaries(
  db: Db,
  query: { tenantId: string; workflowId?: string; status?: ExecutionStatus; waitingApproval?: boolean; test?: boolean; after?: Cursor; limit: number },
): Promise<{ items: ExecutionSummary[]; nextCursor: string | null }> {
  const rows = await listExecutions(db, { ...query, limit: query.limit + 1 });
  const { items, nextCursor } = page(rows, query.limit);
  return { items: items.map(toExecutionSummary), nextCursor };
}

/** The definition the run is pinned to; undefined only if its version row is gone. */
export async function pinnedDefinition(db: Db, execution: Pick<ExecutionRow, 'workflowId' | 'version'>): Promise<WorkflowDefinition | undefined> {
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
  const [definition, rows, attempts] = await Promise.all([
    pinnedDefinition(deps.db, execution),
    nodeRuns(deps.db, id),
    nodeAttempts(deps.db, id),
  ]);
  let nodes = nodeList(definition, rows, attempts);
  let status = execution.status;
  let error: unknown = execution.error;
  let live: boolean | undefined;
  let temporalRunId: string | undefined;
  let paused: boolean | undefined;
  if (options.live) {
    const [state, description] = await Promise.all([liveState(deps.temporal, id), describeRun(deps.temporal, id)]);
    temporalRunId = description?.runId;
    live = state !== undefined;
    if (state) {
      nodes = mergeLive(nodes, state);
      // The workflow knows its pause before its mirror write lands.
      if (state.status === 'RUNNING' || state.status === 'QUEUED') paused = state.paused === true;
      // The mirror trails the workflow by at most a few writes: the query's status is newer
      // (QUEUED → RUNNING, or a finished run) for a run the mirror still shows in progress.
      if ((status === 'RUNNING' || status === 'QUEUED') && state.status !== status) {
        status = state.status;
        error = state.error ?? error;
      }
    }
    if (status === 'RUNNING') nodes = withTenantShareWaits(withRetryInfo(nodes, description?.pendingActivities), description?.pendingActivities);
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
    ...(paused === undefined || (status !== 'RUNNING' && status !== 'QUEUED') ? {} : { paused, ...(!paused && { pausedAt: null, pausedBy: null }) }),
    ...(temporalRunId === undefined ? {} : { temporalRunId }),
  };
}

/**
 * Every node of the definition in definition order: its mirror row, or PENDING when the run has
 * not reached it yet (the workflow writes a row only once a node starts or settles).
 */
export function nodeList(
  definition: WorkflowDefinition | undefined,
  rows: NodeRunRow[],
  attempts: ReadonlyMap<string, NodeAttemptView[]> = new Map(),
): NodeView[] {
  const byId = new Map(rows.map((row) => [row.nodeId, row]));
  const views: NodeView[] = [];
  const failedAttempts = (nodeId: string) => attempts.get(nodeId) ?? [];
  for (const node of definition?.nodes ?? []) {
    const row = byId.get(node.id);
    byId.delete(node.id);
    views.push({ ...(row ? nodeRunView(row) : pendingNodeRunView(node.id, node.type)), failedAttempts: failedAttempts(node.id), reused: row ? isReused(row) : false });
  }
  // Rows for nodes the definition does not list should not exist; show them rather than hide data.
  for (const row of byId.values()) views.push({ ...nodeRunView(row), failedAttempts: failedAttempts(row.nodeId), reused: isReused(row) });
  return views;
}

/** A reused node settles SUCCEEDED at attempt 0 (dag-workflow's reuse); a node that ran has attempt 1 or more. */
function isReused(row: Pick<NodeRunRow, 'status' | 'attempt'>): boolean {
  return row.status === 'SUCCEEDED' && row.attempt === 0;
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
      ...(fresh.status === 'WAITING' && fresh.waitingFor && { waitingFor: fresh.waitingFor }),
      ...((fresh.mocked || view.mocked) && { mocked: true as const }),
      failedAttempts: view.failedAttempts,
      reused: view.reused,
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
