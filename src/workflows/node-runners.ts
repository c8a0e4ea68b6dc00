import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { NodeDef, WorkflowDefinition } from '../domain/definition';
import { durationMs, parseDuration, parseIsoDateTime } from '../domain/duration';
import { nextRetryDelay, resolveActivityPolicy, type ResolvedRetrier } from '../domain/policy';
import { executionModeOf, resolveLocalActivityPolicy } from '../domain/execution-mode';
import type { NodeActivityInput, NodeActivityResult, NodeMirrorTicket } from '../contracts/node-activity';
import type { EmptyTemplate } from '../domain/template-trace';
import { DAG_WORKFLOW_TYPE, type ApprovalDecision, type DagRunResult, type DagWorkflowInput } from '../contracts/dag-workflow';
import { SUBWORKFLOW_TIMEOUT_PATCH } from '../contracts/patches';
import type { Settled } from '../contracts/settled';
import { describeFailure } from './failures';
import { childRunOptions } from './search-attributes';
import { deferrable } from './tenant-share-deferral';

type NodeActivities = Record<string, (input: NodeActivityInput) => Promise<NodeActivityResult>>;

/**
 * An activity of the node's type, with the node's own retry policy and timeouts; the node id is
 * the activity id (inside a map or loop body, the id with the item's path, e.g. `each[17].charge`).
 * In mode "local" a local activity (which has no activity id of its own).
 */
export async function runActivityNode(
  node: NodeDef,
  config: Record<string, unknown>,
  defaults: WorkflowDefinition['defaults'],
  tenantId: string | undefined,
  inlineOutputBytes: number,
  references: ActivityReferences = {},
): Promise<Settled> {
  const { activity, input, retriers } = activityCall(node, config, defaults, tenantId, inlineOutputBytes, references);
  if (retriers) return runWithRetriers(activity, input, retriers);
  const result = await activity(input);
  return { status: 'SUCCEEDED', output: result.output, attempt: result.attempt, ...(result.mirrored !== undefined && { mirrored: result.mirrored }) };
}

/**
 * runActivityNode without its async frames: the same activity, scheduled at once, with one
 * promise on top of the SDK's. The SDK records a stack trace for every promise a workflow
 * creates, and in wide fan-outs those per-node promises were most of the workflow task's time
 * (docs/benchmarks.md); a long workflow task lets completions pile up until the server
 * force-closes it and the run replays from scratch. Fewer microtask hops also change the order
 * in which same-activation settlements run, so callers guard it with a patch.
 */
export function scheduleActivityNode(
  node: NodeDef,
  config: Record<string, unknown>,
  defaults: WorkflowDefinition['defaults'],
  tenantId: string | undefined,
  inlineOutputBytes: number,
  mirror?: NodeMirrorTicket,
): Promise<Settled> {
  const { activity, input, retriers } = activityCall(node, config, defaults, tenantId, inlineOutputBytes, mirror ? { mirror } : {});
  if (retriers) return runWithRetriers(activity, input, retriers);
  return activity(input).then((result): Settled => ({ status: 'SUCCEEDED', output: result.output, attempt: result.attempt, ...(result.mirrored !== undefined && { mirrored: result.mirrored }) }));
}

interface ActivityReferences {
  emptyTemplates?: EmptyTemplate[];
  secretPaths?: string[];
  activityId?: string;
  /** One activity, one result: its worker may write that result to the mirror itself (not with retry lists, whose attempts the workflow counts). */
  mirror?: NodeMirrorTicket;
  /** One Temporal attempt per activity: the workflow retries (a limited node takes a slot per attempt, node-limits.ts). */
  singleAttempt?: boolean;
}

export function activityCall(
  node: NodeDef,
  config: Record<string, unknown>,
  defaults: WorkflowDefinition['defaults'],
  tenantId: string | undefined,
  inlineOutputBytes: number,
  references: ActivityReferences,
): { activity: NodeActivities[string]; input: NodeActivityInput; retriers?: readonly ResolvedRetrier[] } {
  const { emptyTemplates = [], secretPaths = [], activityId = node.id } = references;
  // The summary names the node in the Temporal Web UI (user metadata; servers before 1.27 ignore it).
  const summary = node.id;
  const local = executionModeOf(node, defaults) === 'local';
  const { retriers, ...resolved } = local ? resolveLocalActivityPolicy(node, defaults) : regularPolicy(node, defaults);
  const policy = references.singleAttempt ? { ...resolved, retry: { ...resolved.retry, maximumAttempts: 1 } } : resolved;
  const activities = local
    ? proxyLocalActivities<NodeActivities>({ ...policy, summary })
    : proxyActivities<NodeActivities>({ ...policy, activityId, summary });
  const input: NodeActivityInput = {
    nodeId: node.id,
    executionId: workflowInfo().workflowId,
    ...(tenantId !== undefined && { tenantId }),
    config,
    inlineOutputBytes,
    ...(emptyTemplates.length > 0 && { emptyTemplates }),
    ...(secretPaths.length > 0 && { secretPaths }),
  };
  // The fair-share gate may defer a first attempt back to the run (tenant-share-deferral.ts).
  const activity = deferrable(activities[node.type]!, activityId);
  if (retriers) return { activity, input, retriers };
  return { activity, input: references.mirror ? { ...input, mirror: references.mirror } : input };
}

/** The policy of nodes without retry or timeout of their own depends on the defaults only: one per definition. */
const defaultsPolicies = new WeakMap<object, ReturnType<typeof resolveActivityPolicy>>();
const NO_DEFAULTS = {};

function regularPolicy(node: NodeDef, defaults: WorkflowDefinition['defaults']): ReturnType<typeof resolveActivityPolicy> {
  if (node.retry !== undefined || node.timeout !== undefined) return resolveActivityPolicy(node, defaults);
  const key = defaults ?? NO_DEFAULTS;
  let policy = defaultsPolicies.get(key);
  if (!policy) defaultsPolicies.set(key, (policy = resolveActivityPolicy(node, defaults)));
  return policy;
}

/**
 * A retry list: one activity (one Temporal attempt) per node attempt, and between attempts a
 * durable timer whose length the retrier matching the failure's type decides.
 */
async function runWithRetriers(
  activity: NodeActivities[string],
  input: NodeActivityInput,
  retriers: readonly ResolvedRetrier[],
): Promise<Settled> {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await activity(attempt === 1 ? input : { ...input, priorAttempts: attempt - 1 });
      return { status: 'SUCCEEDED', output: result.output, attempt };
    } catch (err) {
      const next = afterFailedAttempt(err, attempt, retriers);
      if (typeof next !== 'number') return next;
      await sleep(Math.max(1, next));
    }
  }
}

/**
 * What a failed node attempt leads to under a retry list: the node's failure, or how long to wait
 * before the next attempt; a cancellation is rethrown. Synchronous on purpose: callers await
 * nothing between the failure and their timer, so the order of commands stays as recorded.
 */
export function afterFailedAttempt(err: unknown, attempt: number, retriers: readonly ResolvedRetrier[]): Settled | number {
  if (isCancellation(err)) throw err;
  const failure = describeFailure(err, () => attempt);
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  const nonRetryable = cause instanceof ApplicationFailure && cause.nonRetryable === true;
  const delay = nextRetryDelay(retriers, { type: failure.error.type, nonRetryable }, attempt);
  return delay === undefined ? { status: 'FAILED', error: failure.error, attempt } : delay;
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

/** Subworkflows nest at most this deep, so a workflow that calls itself cannot fork without bound. */
export const MAX_SUBWORKFLOW_DEPTH = 5;

/**
 * A stored workflow run as a child dagWorkflow; its outputs are this node's output. The child
 * carries the parent's tenant, so it can only find that tenant's workflows. `path` names the
 * child inside map and loop bodies (`each[3].call`).
 */
export async function runSubworkflowNode(
  node: NodeDef,
  config: Record<string, unknown>,
  parent: { tenantId?: string; depth: number },
  path = node.id,
): Promise<Settled> {
  if (parent.depth + 1 > MAX_SUBWORKFLOW_DEPTH) {
    throw ApplicationFailure.nonRetryable(
      `subworkflow "${node.id}" would nest ${parent.depth + 1} levels deep; the limit is ${MAX_SUBWORKFLOW_DEPTH}`,
      'SubworkflowDepthExceeded',
    );
  }
  // timeout.startToClose bounds the child run like an activity's: Temporal times the child out
  // (its mirror shows TIMED_OUT through the reconciler) and the node fails with SubworkflowTimeout.
  const limit = node.timeout?.startToClose;
  const bounded = limit !== undefined && patched(SUBWORKFLOW_TIMEOUT_PATCH);
  const result = await executeChild<(input: DagWorkflowInput) => Promise<DagRunResult>>(DAG_WORKFLOW_TYPE, {
    workflowId: `${workflowInfo().workflowId}.${path}`,
    args: [
      {
        workflowId: String(config.workflowId),
        version: config.version as number | undefined,
        input: config.input,
        ...(parent.tenantId !== undefined && { tenantId: parent.tenantId }),
        depth: parent.depth + 1,
      },
    ],
    ...(bounded && { workflowExecutionTimeout: durationMs(limit) }),
    ...childRunOptions('SUBWORKFLOW', { workflowId: String(config.workflowId), version: config.version }),
  });
  return { status: 'SUCCEEDED', attempt: 1, output: result.outputs };
}
