import type { NodeDef, WorkflowDefinition } from './definition';
import { durationMs, parseDuration } from './duration';
import { hasNodeLimits } from './flow-control';
import { walkNodes } from './iteration';
import { executionOf, type NodeTypeSpec } from './node-types';
import { resolveActivityPolicy, type ResolvedActivityPolicy } from './policy';

/**
 * `mode: "local"` runs an activity node as a Temporal local activity: inside the worker that runs
 * the workflow task, with no task-queue round trip. The price (docs/definitions.md, "Execution
 * mode"): at-least-once even with maximumAttempts 1, no heartbeat, no routing to another worker,
 * and while it runs the workflow task stays open, so it must be short: bounded startToClose.
 */
export type ExecutionMode = 'regular' | 'local';

/** The longest startToClose a local node may have. */
export const LOCAL_MAX_START_TO_CLOSE_MS = 60_000;
/** startToClose of a local node when neither it nor `defaults` sets one (the platform's 5m is too long). */
export const LOCAL_DEFAULT_START_TO_CLOSE_MS = 30_000;

type ModeFields = Pick<NodeDef, 'retry' | 'timeout' | 'mode' | 'localRetryThreshold'>;

export function executionModeOf(node: Pick<NodeDef, 'mode'>, defaults: WorkflowDefinition['defaults'] = {}): ExecutionMode {
  return node.mode ?? defaults.mode ?? 'regular';
}

/** An activity node that runs as a local activity. */
function isLocalActivityNode(node: NodeDef, defaults: WorkflowDefinition['defaults']): boolean {
  return executionOf(node.type) === 'activity' && executionModeOf(node, defaults) === 'local';
}

/** True when some activity node of the definition runs in mode "local". */
export function hasLocalNodes(definition: Pick<WorkflowDefinition, 'nodes' | 'defaults'>): boolean {
  return definition.nodes.some((node) => isLocalActivityNode(node, definition.defaults));
}

/**
 * True when a local activity other than the mirror's own writes may be in flight beside them: a
 * node in mode "local" anywhere (bodies included), a node-level concurrency or rateLimit (each
 * attempt asks its limiter in a local activity), or run-level concurrency (the run asks for its
 * slot while its row is being written). How Temporal groups the results of concurrent local
 * activities into activations differs between a live run (as each one finishes) and its replay
 * (all results found in a row of markers at once); the local mirror's batches follow those
 * activations, so beside other local activities a replay could make fewer writes than the live
 * run did, and fail; such runs write the mirror with regular activities (dag-workflow.ts).
 */
export function runsLocalActivitiesBesideMirror(definition: Pick<WorkflowDefinition, 'nodes' | 'defaults' | 'concurrency'>): boolean {
  if (definition.concurrency !== undefined) return true;
  for (const { node } of walkNodes(definition.nodes)) {
    if (hasNodeLimits(node) || isLocalActivityNode(node, definition.defaults)) return true;
  }
  return false;
}

/** startToClose of a node in local mode, in ms: the node's, the defaults', or the local default. */
function localStartToCloseMs(node: ModeFields, defaults: WorkflowDefinition['defaults'] = {}): number {
  const explicit = node.timeout?.startToClose ?? defaults.timeout?.startToClose;
  return explicit === undefined ? LOCAL_DEFAULT_START_TO_CLOSE_MS : durationMs(explicit);
}

/** Local activity options in Temporal's shape (ms): the regular policy without heartbeat, plus the threshold. */
export interface ResolvedLocalActivityPolicy extends Omit<ResolvedActivityPolicy, 'heartbeatTimeout'> {
  localRetryThreshold?: number;
}

export function resolveLocalActivityPolicy(node: ModeFields, defaults: WorkflowDefinition['defaults'] = {}): ResolvedLocalActivityPolicy {
  const { heartbeatTimeout: _unused, ...policy } = resolveActivityPolicy(node, defaults);
  const threshold = node.localRetryThreshold ?? defaults.localRetryThreshold;
  return {
    ...policy,
    startToCloseTimeout: localStartToCloseMs(node, defaults),
    ...(threshold !== undefined && { localRetryThreshold: durationMs(threshold) }),
  };
}

interface Problem {
  path: string;
  message: string;
}

/**
 * What validation says about `mode` and `localRetryThreshold` on one node: only activity types
 * run as local activities, a local node has no heartbeat and a startToClose of at most 1m.
 * `spec` undefined means an unknown type accepted as an activity type.
 */
export function executionModeProblems(node: ModeFields, path: string, spec: NodeTypeSpec | undefined, defaults: WorkflowDefinition['defaults']): Problem[] {
  const problems: Problem[] = [];
  const isActivity = spec === undefined || spec.execution === 'activity';
  if (!isActivity) {
    for (const field of ['mode', 'localRetryThreshold'] as const) {
      if (node[field] !== undefined) {
        problems.push({ path: `${path}/${field}`, message: `"${field}" applies only to activity node types (http, postgres, custom types); "${spec.type}" runs ${spec.execution === 'inline' ? 'in the workflow' : `as a ${spec.execution}`}` });
      }
    }
    return problems;
  }
  if (node.localRetryThreshold !== undefined && parseDuration(node.localRetryThreshold) === undefined) {
    problems.push({ path: `${path}/localRetryThreshold`, message: `${JSON.stringify(node.localRetryThreshold)} is not a duration` });
  }
  if (executionModeOf(node, defaults ?? {}) !== 'local') {
    if (node.localRetryThreshold !== undefined) {
      problems.push({ path: `${path}/localRetryThreshold`, message: '"localRetryThreshold" applies only to nodes in mode "local"' });
    }
    return problems;
  }
  if (node.timeout?.heartbeat !== undefined) {
    problems.push({ path: `${path}/timeout/heartbeat`, message: 'a node in mode "local" runs as a local activity, which cannot heartbeat: remove timeout.heartbeat or use mode "regular"' });
  }
  const startToClose = node.timeout?.startToClose ?? defaults?.timeout?.startToClose;
  const ms = startToClose === undefined ? LOCAL_DEFAULT_START_TO_CLOSE_MS : parseDuration(startToClose);
  if (ms !== undefined && (ms > LOCAL_MAX_START_TO_CLOSE_MS || ms === 0)) {
    const where = node.timeout?.startToClose !== undefined ? `${path}/timeout/startToClose` : path;
    const from = node.timeout?.startToClose !== undefined ? '' : ` (${JSON.stringify(startToClose)} from defaults)`;
    problems.push({ path: where, message: `a node in mode "local" needs timeout.startToClose between 1ms and 1m${from}: a local activity holds the workflow task while it runs` });
  }
  return problems;
}

/** `defaults.localRetryThreshold` must parse. */
export function defaultsModeProblems(defaults: WorkflowDefinition['defaults']): Problem[] {
  const threshold = defaults?.localRetryThreshold;
  if (threshold === undefined || parseDuration(threshold) !== undefined) return [];
  return [{ path: '/defaults/localRetryThreshold', message: `${JSON.stringify(threshold)} is not a duration` }];
}
