import { CancellationScope, condition, isCancellation } from '@temporalio/workflow';
import type { ErrorInfo, NodeDef, WorkflowDefinition } from '../domain/definition';
import type { ExpressionCompiler, ExpressionContext } from '../domain/expressions';
import type { Body } from '../domain/iteration';
import { executionOf } from '../domain/node-types';
import { DagPlanner, type Decision } from '../domain/planner';
import { resolveActivityPolicy } from '../domain/policy';
import { describeFailure } from './failures';
import { RUN_LIMITS } from '../domain/run-limits';
import { secretRefPaths } from '../domain/secrets';
import { runActivityNode } from './node-runners';
import { runNodeOfGraph, type NodeEnv } from './node-dispatch';
import type { Settled } from '../contracts/settled';
import { runLimitedActivityNode } from './node-limits';
import type { PauseGate } from './run-pause';

/** What body expressions see besides the run's context: the item, its index, the iteration. */
export type BodyContext = ExpressionContext & { item?: unknown; index?: number; iteration?: number };

/** Shared by every body run of one iteration node. */
export interface BodyEnv {
  compiler: ExpressionCompiler;
  defaults: WorkflowDefinition['defaults'];
  /** The run's tenant (activities and children look things up within it) and subworkflow depth. */
  tenantId?: string;
  depth: number;
  /**
   * Runs a nested map or loop node found in a body (iteration-node.ts supplies it; passed in so
   * the two modules do not import each other).
   */
  runIteration(node: NodeDef, context: BodyContext, idPrefix: string): Promise<Settled>;
  /** The pause of the workflow the bodies run in: no item or iteration starts while it holds. */
  pause?: PauseGate;
}

export interface BodyOutcome {
  status: 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  /** Final state of each body node, for `output` and `until` expressions. */
  nodes: BodyContext['nodes'];
  error?: ErrorInfo;
  /** Highest attempt of any body node: what the item's `attempt` reports. */
  attempt: number;
}

/**
 * Runs one instance of a body graph (one map item, one loop iteration) with the same DagPlanner
 * and node runners as a whole run. `idPrefix` (e.g. `each[17].`) makes the activity and child
 * ids of this instance unique in the workflow and readable in the Web UI.
 */
export async function runBody(body: Body, base: BodyContext, idPrefix: string, env: BodyEnv): Promise<BodyOutcome> {
  const planner = new DagPlanner(body);
  const byId = new Map(body.nodes.map((n) => [n.id, n]));
  const states: BodyContext['nodes'] = {};
  for (const n of body.nodes) states[n.id] = { status: 'PENDING', output: null, error: null };
  const bodyScope = CancellationScope.current();
  const scopes = new Map<string, CancellationScope>();
  let attempt = 0;
  // Cancelled from outside (the item, the map or the run); not the wind-down after a failure.
  const cancelled = () => bodyScope.consideredCancelled;

  const context = (): BodyContext => ({ ...base, nodes: { ...base.nodes, ...states } });
  const nodeEnv = bodyNodeEnv(env, context, idPrefix);

  const launch = (id: string): void => {
    const node = byId.get(id)!;
    const execution = executionOf(node.type);
    planner.markStarted(id, execution === 'timer' ? 'WAITING' : 'RUNNING');
    states[id] = { status: 'RUNNING', output: null, error: null };
    const scope = new CancellationScope({ cancellable: true, parent: bodyScope });
    scopes.set(id, scope);
    scope
      .run(() => runNodeOfGraph(node, nodeEnv))
      .then(
        (settled) => settle(id, settled),
        (err: unknown) => settle(id, failureOf(node, err, env)),
      );
  };

  const apply = (decision: Decision): void => {
    for (const id of decision.skipped) states[id] = { status: 'SKIPPED', output: null, error: null };
    for (const id of decision.ready) launch(id);
  };

  const settle = (id: string, settled: Settled): void => {
    scopes.delete(id);
    attempt = Math.max(attempt, settled.attempt ?? 1);
    states[id] = { status: settled.status, output: settled.output ?? null, error: settled.error ?? null };
    const wasFailing = planner.failedNode !== undefined;
    const branch = settled.status === 'SUCCEEDED' && settled.branchValue !== undefined ? planner.branchLabel(id, settled.branchValue) : undefined;
    const decision = planner.settle(id, { status: settled.status, branch });
    // A fatal failure stops what still runs in this body; cleanup (all_done) nodes still run.
    if (!wasFailing && planner.failedNode !== undefined) for (const scope of scopes.values()) scope.cancel();
    if (!cancelled()) apply(decision);
    else for (const skipped of planner.cancelPending()) states[skipped] = { status: 'CANCELLED', output: null, error: null };
  };

  apply(planner.start());
  // Shielded: when the item is cancelled every body node still settles before we answer.
  await CancellationScope.nonCancellable(() => condition(() => planner.isComplete()));
  const failed = planner.failedNode;
  if (failed !== undefined) {
    const cause = states[failed]!.error as ErrorInfo | null;
    const error: ErrorInfo = {
      type: cause?.type ?? 'NodeFailed',
      message: `node "${failed}" failed: ${cause?.message ?? 'unknown error'}`,
      nodeId: failed,
    };
    return { status: cancelled() ? 'CANCELLED' : 'FAILED', nodes: states, error, attempt };
  }
  if (cancelled()) return { status: 'CANCELLED', nodes: states, error: { type: 'Cancelled', message: 'cancelled' }, attempt };
  return { status: 'SUCCEEDED', nodes: states, attempt };
}

/** This body instance as the graph its nodes run in: the run's limits, no budget or mirror of its own. */
function bodyNodeEnv(env: BodyEnv, context: () => BodyContext, idPrefix: string): NodeEnv<BodyContext> {
  return {
    compiler: env.compiler,
    defaults: env.defaults,
    tenantId: env.tenantId,
    depth: env.depth,
    idPrefix,
    context,
    // A nested map or loop prefixes its own items' ids with its node id (`outer[2].inner[1].leaf`).
    runIteration: (node, ctx) => env.runIteration(node, ctx, idPrefix),
    runActivity: ({ node, raw, config, templated }) =>
      runActivityNode(node, config, env.defaults, env.tenantId, RUN_LIMITS.inlineOutputBytes, {
        activityId: `${idPrefix}${node.id}`,
        secretPaths: templated ? secretRefPaths(raw).map((r) => r.path) : [],
      }),
    // [node-limits] call site: each item's attempt waits for its turn under the node's limits.
    runLimitedActivity: ({ node, raw, config, templated }, limits) =>
      runLimitedActivityNode({
        node, config, defaults: env.defaults, tenantId: env.tenantId, inlineOutputBytes: RUN_LIMITS.inlineOutputBytes, limits,
        activityId: `${idPrefix}${node.id}`, secretPaths: templated ? secretRefPaths(raw).map((r) => r.path) : [],
        hooks: { waiting: () => undefined, running: () => undefined },
      }),
  };
}

function failureOf(node: NodeDef, err: unknown, env: BodyEnv): Settled {
  if (isCancellation(err)) return { status: 'CANCELLED', error: { type: 'Cancelled', message: 'cancelled' } };
  const failure = describeFailure(err, () => resolveActivityPolicy(node, env.defaults).retry.maximumAttempts);
  return { status: 'FAILED', ...failure };
}
