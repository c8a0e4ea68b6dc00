import { patched } from '@temporalio/workflow';
import type { ApprovalDecision } from '../contracts/dag-workflow';
import { NODE_LIMITS_PATCH } from '../contracts/patches';
import type { Settled } from '../contracts/settled';
import type { NodeDef, WorkflowDefinition } from '../domain/definition';
import { containsTemplate, resolveTemplates, type ExpressionCompiler, type ExpressionContext } from '../domain/expressions';
import { BUILTIN_CATALOG, executionOf, type NodeExecution } from '../domain/node-types';
import { runInlineNode, type InlineResult } from './inline-nodes';
import { resolveNodeLimits, type NodeLimits } from './node-limits';
import { hasNodeLimits } from '../domain/flow-control';
import { runApprovalNode, runDelayNode, runSubworkflowNode } from './node-runners';

/**
 * The graph a node runs in: the whole run (DagRun) or one instance of a map or loop body
 * (runBody). What differs between the two lives here; how each kind of node runs is the one
 * table below, for both.
 */
export interface NodeEnv<C extends ExpressionContext = ExpressionContext> {
  readonly compiler: ExpressionCompiler;
  readonly defaults: WorkflowDefinition['defaults'];
  readonly tenantId: string | undefined;
  readonly depth: number;
  /** What the node's expressions see. */
  context(): C;
  /** Runs before a node evaluates anything (the run spreads expression work over workflow tasks). */
  beforeEvaluation?(): Promise<void>;
  /** A map or loop node: it resolves its own config, as body templates see `item` / `iteration`. */
  runIteration(node: NodeDef, context: C): Promise<Settled>;
  /** An activity node, with its resolved config: the run counts it against its budget and mirrors its result. */
  runActivity(call: NodeCall): Promise<Settled>;
  /** An activity node under concurrency / rate limits: every attempt waits for its turn. */
  runLimitedActivity(call: NodeCall, limits: NodeLimits): Promise<Settled>;
  /** Checks an activity node's resolved config before it is scheduled (sizes; throws). */
  checkActivityConfig?(nodeId: string, config: Record<string, unknown>): void;
  /** Approval decisions by node id; a graph without them (a body) refuses approval nodes. */
  readonly decisions?: ReadonlyMap<string, ApprovalDecision>;
  /** A switch with a `default` edge takes it on a null value (recorded with a patch). */
  switchDefaults?(nodeId: string): boolean;
  /** Counts what an inline node returned against the run's budget. */
  admitInlineOutput?(nodeId: string, output: unknown): void;
  /** Counts a result that arrived whole (a child's outputs, approval data) against the run's budget. */
  admitOutput?(nodeId: string, output: unknown): void;
  /** Prefix of the node's activity and child ids (`each[17].`); none for the run's own nodes. */
  readonly idPrefix?: string;
}

/** One node about to run: its config resolved, and what was resolved from what. */
export interface NodeCall {
  readonly node: NodeDef;
  readonly raw: Record<string, unknown>;
  readonly config: Record<string, unknown>;
  readonly templated: boolean;
  /** The context the templates were resolved in; built only for nodes that evaluate something. */
  readonly context: ExpressionContext | undefined;
  readonly env: NodeEnv;
}

/**
 * How one kind of node runs. `start` begins it; `finish`, when it returns a function for this
 * call, turns what start settled into the node's outcome once it has settled. Kept in two parts
 * so a runner adds no async frame: when a node's promise settles decides the order of
 * same-activation settlements, and with it the commands recorded after them.
 */
interface NodeRunner {
  start(call: NodeCall): Promise<unknown> | Settled;
  finish?(call: NodeCall): ((started: never) => Settled) | undefined;
}

type DirectKind = Exclude<NodeExecution, 'map' | 'loop'>;

const admitWhole = ({ env, node }: NodeCall) =>
  env.admitOutput &&
  ((settled: Settled) => {
    env.admitOutput!(node.id, settled.output);
    return settled;
  });

const NODE_RUNNERS: Record<DirectKind, NodeRunner> = {
  activity: { start: (call) => call.env.runActivity(call) },
  inline: {
    start: ({ node, config, context, env }) => runInlineNode(node, config, context!, env.compiler, env.switchDefaults && (() => env.switchDefaults!(node.id)), env.tenantId),
    finish: ({ node, env }) => (result: InlineResult) => {
      env.admitInlineOutput?.(node.id, result.output);
      return { status: 'SUCCEEDED', attempt: 1, ...result };
    },
  },
  timer: { start: ({ config }) => runDelayNode(config) },
  signal: {
    // Validation refuses approval nodes in bodies; a definition that slipped past fails here.
    start: ({ node, config, env }) =>
      env.decisions
        ? runApprovalNode(node, config, env.decisions)
        : { status: 'FAILED', attempt: 1, error: { type: 'ConfigError', message: `"${node.type}" nodes cannot run inside a body` } },
    finish: (call) => (call.env.decisions ? admitWhole(call) : undefined),
  },
  child: {
    start: ({ node, config, env }) =>
      env.idPrefix === undefined
        ? runSubworkflowNode(node, config, { tenantId: env.tenantId, depth: env.depth })
        : runSubworkflowNode(node, config, { tenantId: env.tenantId, depth: env.depth }, `${env.idPrefix}${node.id}`),
    finish: admitWhole,
  },
};

/**
 * Runs one node of any kind in its graph: resolves its templates (only nodes that evaluate
 * something build a context: it copies every node's state, and building it for each of 1,000
 * plain activity nodes made wide fan-outs quadratic), then hands it to its kind's runner.
 */
export async function runNodeOfGraph<C extends ExpressionContext>(node: NodeDef, env: NodeEnv<C>): Promise<Settled> {
  const execution = executionOf(node.type);
  if (execution === 'map' || execution === 'loop') return env.runIteration(node, env.context());
  const spec = BUILTIN_CATALOG.get(node.type);
  const raw = node.config ?? {};
  const templated = containsTemplate(raw, spec?.expressionFields);
  const evaluates = templated || execution === 'inline';
  if (evaluates && env.beforeEvaluation) await env.beforeEvaluation();
  const context = evaluates ? env.context() : undefined;
  const config = (templated ? await resolveTemplates(raw, context!, env.compiler, spec?.expressionFields) : raw) as Record<string, unknown>;
  const call: NodeCall = { node, raw, config, templated, context, env };
  if (execution === 'activity') {
    env.checkActivityConfig?.(node.id, config);
    // [node-limits] call site: every attempt waits for its turn under the node's limits.
    if (hasNodeLimits(node) && patched(NODE_LIMITS_PATCH)) {
      const limits = await resolveNodeLimits(node, () => context ?? env.context(), env.compiler);
      return env.runLimitedActivity(call, limits);
    }
  }
  const runner = NODE_RUNNERS[execution];
  const finish = runner.finish?.(call) as ((started: unknown) => Settled) | undefined;
  return finish ? finish(await runner.start(call)) : (runner.start(call) as Promise<Settled> | Settled);
}
