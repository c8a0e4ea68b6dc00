import { ApplicationFailure, condition, executeChild, proxyActivities, proxyLocalActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { ErrorInfo, NodeDef, NodeStatus, WorkflowDefinition } from '../domain/definition';
import { durationMs, parseDuration, parseIsoDateTime } from '../domain/duration';
import { resolveActivityPolicy } from '../domain/policy';
import { executionModeOf, resolveLocalActivityPolicy } from '../domain/execution-mode';
import type { NodeActivityInput, NodeActivityResult } from '../domain/activity-contract';
import { DAG_WORKFLOW_TYPE, type ApprovalDecision, type DagRunResult, type DagWorkflowInput } from './contract';

/** A node's terminal result as the interpreter records it. */
export interface Settled {
  status: NodeStatus;
  output?: unknown;
  error?: ErrorInfo;
  attempt?: number;
  branchValue?: unknown;
}

type NodeActivities = Record<string, (input: NodeActivityInput) => Promise<NodeActivityResult>>;

/**
 * An activity of the node's type, with the node's own retry policy and timeouts; the node id is
 * the activity id. In mode "local" a local activity (which has no activity id of its own).
 */
export async function runActivityNode(
  node: NodeDef,
  config: Record<string, unknown>,
  defaults: WorkflowDefinition['defaults'],
): Promise<Settled> {
  // The summary names the node in the Temporal Web UI (user metadata; servers before 1.27 ignore it).
  const summary = node.id;
  const activities =
    executionModeOf(node, defaults) === 'local'
      ? proxyLocalActivities<NodeActivities>({ ...resolveLocalActivityPolicy(node, defaults), summary })
      : proxyActivities<NodeActivities>({ ...resolveActivityPolicy(node, defaults), activityId: node.id, summary });
  const input: NodeActivityInput = { nodeId: node.id, executionId: workflowInfo().workflowId, config };
  const result = await activities[node.type]!(input);
  return { status: 'SUCCEEDED', output: result.output, attempt: result.attempt };
}

/** A durable timer: survives worker restarts and costs no worker while it waits. */
export async function runDelayNode(config: Record<string, unknown>): Promise<Settled> {
  let ms: number;
  if (config.until !== undefined) {
    const until = parseIsoDateTime(config.until);
    if (until === undefined) throw ApplicationFailure.nonRetryable(`"${String(config.until)}" is not an ISO date-time with a zone`, 'ConfigError');
    ms = Math.max(0, until - Date.now());
  } else {
    const duration = parseDuration(config.duration);
    if (duration === undefined) throw ApplicationFailure.nonRetryable(`${JSON.stringify(config.duration)} is not a duration`, 'ConfigError');
    ms = duration;
  }
  if (ms > 0) await sleep(ms);
  return { status: 'SUCCEEDED', attempt: 1, output: { firedAt: new Date().toISOString() } };
}

/** Waits for the `approve` signal (kept in `decisions`), or applies onTimeout. */
export async function runApprovalNode(
  node: NodeDef,
  config: Record<string, unknown>,
  decisions: ReadonlyMap<string, ApprovalDecision>,
): Promise<Settled> {
  const timeout = config.timeout === undefined ? undefined : durationMs(config.timeout as string | number);
  const decided = () => decisions.has(node.id);
  const arrived = timeout === undefined ? (await condition(decided), true) : await condition(decided, timeout);
  const decision: ApprovalDecision = arrived
    ? decisions.get(node.id)!
    : { nodeId: node.id, approved: config.onTimeout === 'approve', by: 'timeout' };
  const output = { approved: decision.approved, by: decision.by ?? null, data: decision.data ?? null };
  if (decision.approved) return { status: 'SUCCEEDED', attempt: 1, output };
  return {
    status: 'FAILED',
    attempt: 1,
    output,
    error: { type: 'ApprovalRejected', message: `approval "${node.id}" rejected${decision.by ? ` by ${decision.by}` : ''}` },
  };
}

/** A stored workflow run as a child dagWorkflow; its outputs are this node's output. */
export async function runSubworkflowNode(node: NodeDef, config: Record<string, unknown>): Promise<Settled> {
  const result = await executeChild<(input: DagWorkflowInput) => Promise<DagRunResult>>(DAG_WORKFLOW_TYPE, {
    workflowId: `${workflowInfo().workflowId}.${node.id}`,
    args: [{ workflowId: String(config.workflowId), version: config.version as number | undefined, input: config.input }],
  });
  return { status: 'SUCCEEDED', attempt: 1, output: result.outputs };
}
