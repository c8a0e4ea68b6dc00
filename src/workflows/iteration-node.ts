import { ApplicationFailure, CancellationScope, CancelledFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import { Value } from '@sinclair/typebox/value';
import type { NodeDef, WorkflowDefinition } from '../domain/definition';
import { ExpressionCompiler, resolveTemplates, type ExpressionContext } from '../domain/expressions';
import {
  LoopConfigSchema,
  MAP_DEFAULT_CONCURRENCY,
  MAP_DEFAULT_MAX_ITEMS,
  MapConfigSchema,
  bodyCost,
  mapOutput,
  planMap,
  reusableItems,
  toleratedCount,
  type ItemOutcome,
  type LoopConfig,
  type MapConfig,
} from '../domain/iteration';
import { executionOf } from '../domain/node-types';
import type { BodyEnv } from './body-run';
import {
  LOOP_WORKFLOW_TYPE,
  MAP_WORKFLOW_TYPE,
  type IterationLimits,
  type IterationResult,
  type IterationScope,
  type LoopWorkflowInput,
  type MapWorkflowInput,
} from './iteration-contract';
import { runLoopIterations } from './loop-iterations';
import { runItems } from './map-items';
import type { Settled } from './node-runners';

/** Work a map or loop may do inside the current workflow before it moves to a child workflow. */
const INLINE_OPERATIONS = 200;

export interface IterationOptions {
  compiler: ExpressionCompiler;
  defaults: WorkflowDefinition['defaults'];
  /** Retry from failure: the node's output in the run being retried. */
  previous?: unknown;
  limits?: IterationLimits;
}

/** Runs a map or loop node (top level or inside a body) and settles it like any node. */
export async function runIterationNode(
  node: NodeDef,
  context: ExpressionContext,
  idPrefix: string,
  options: IterationOptions,
): Promise<Settled> {
  const env = bodyEnv(options.compiler, options.defaults, options.limits);
  return node.type === 'map' ? runMap(node, context, idPrefix, env, options) : runLoop(node, context, idPrefix, env);
}

export type IterationEnv = BodyEnv & { limits?: IterationLimits };

export function bodyEnv(compiler: ExpressionCompiler, defaults: WorkflowDefinition['defaults'], limits?: IterationLimits): IterationEnv {
  return {
    compiler,
    defaults,
    limits,
    runIteration: (node, context, idPrefix) => runIterationNode(node, context, idPrefix, { compiler, defaults, limits }),
  };
}

/** Resolves `{{ }}` in the node's plain settings (never in body or expressions) and checks the result. */
async function settingsOf<T>(node: NodeDef, context: ExpressionContext, compiler: ExpressionCompiler, raw: string[]): Promise<T> {
  const config = (node.config ?? {}) as Record<string, unknown>;
  const plain = Object.fromEntries(Object.entries(config).filter(([k]) => !raw.includes(k)));
  const resolved = (await resolveTemplates(plain, context, compiler)) as Record<string, unknown>;
  const full = { ...config, ...resolved };
  const schema = node.type === 'map' ? MapConfigSchema : LoopConfigSchema;
  const problem = [...Value.Errors(schema, full)][0];
  if (problem) throw ApplicationFailure.nonRetryable(`config${problem.path}: ${problem.message}`, 'ConfigError');
  return full as T;
}

async function runMap(node: NodeDef, context: ExpressionContext, idPrefix: string, env: IterationEnv, options: IterationOptions): Promise<Settled> {
  const config = await settingsOf<MapConfig>(node, context, env.compiler, ['items', 'output', 'body']);
  const evaluated = await env.compiler.evaluate(config.items, context);
  if (evaluated !== null && !Array.isArray(evaluated)) {
    throw ApplicationFailure.nonRetryable(
      `map "${node.id}": items must evaluate to an array, got ${typeof evaluated} (wrap a single value in [ ])`,
      'MapItemsNotArray',
    );
  }
  const items = evaluated ?? [];
  const maxItems = config.maxItems ?? MAP_DEFAULT_MAX_ITEMS;
  if (items.length > maxItems) {
    throw ApplicationFailure.nonRetryable(`map "${node.id}": ${items.length} items exceed maxItems (${maxItems})`, 'MapTooManyItems');
  }
  const total = items.length;
  const tolerated = toleratedCount(config.toleratedFailures, total);
  const reuse = options.previous === undefined ? undefined : reusableItems(options.previous, total);
  const cost = bodyCost(config.body, (type) => executionOf(type) === 'inline');
  const limits = env.limits ?? {};
  const plan = planMap(total, cost, config.maxConcurrency ?? MAP_DEFAULT_CONCURRENCY, limits.inlineOperations ?? INLINE_OPERATIONS, limits.batchSize);

  let outcomes: ItemOutcome[];
  if (plan.inline) {
    outcomes = await runItems(
      {
        nodeId: node.id,
        body: config.body,
        output: config.output,
        items,
        firstIndex: 0,
        skip: reuse && new Set(reuse.keys()),
        concurrency: plan.itemsPerWorkflow,
        maxFailures: tolerated,
        context,
        idPrefix,
      },
      env,
    );
    for (const [index, output] of reuse ?? []) outcomes.push({ index, status: 'SUCCEEDED', output, attempt: 0 });
  } else {
    const input: MapWorkflowInput = {
      ...scopeOf({ ...node, config: { ...config } }, context, idPrefix, env),
      items,
      output: config.output,
      plan,
      tolerated,
      ...(reuse && { reuse: Object.fromEntries(reuse) }),
    };
    return runChild(MAP_WORKFLOW_TYPE, node, idPrefix, input);
  }
  return settleMap(node.id, total, tolerated, outcomes);
}

/** Folds outcomes into the node's result; past the tolerated failures the node fails. */
export function settleMap(nodeId: string, total: number, tolerated: number, outcomes: Iterable<ItemOutcome>): Settled {
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('map cancelled');
  const output = mapOutput(total, outcomes);
  const attempt = 1;
  if (output.counts.failed <= tolerated) return { status: 'SUCCEEDED', output, attempt };
  const first = output.failures.find((f) => f.error.type !== 'Cancelled') ?? output.failures[0]!;
  return {
    status: 'FAILED',
    output,
    attempt,
    error: {
      type: 'MapItemsFailed',
      message: `map "${nodeId}": ${output.counts.failed} of ${total} items failed (${tolerated} tolerated); item ${first.index}: ${first.error.message}`,
      nodeId,
      details: { counts: output.counts, firstFailure: first },
    },
  };
}

async function runLoop(node: NodeDef, context: ExpressionContext, idPrefix: string, env: IterationEnv): Promise<Settled> {
  const config = await settingsOf<LoopConfig>(node, context, env.compiler, ['until', 'body']);
  const cost = bodyCost(config.body, (type) => executionOf(type) === 'inline') + (config.interval ? 1 : 0);
  if (config.maxIterations * cost <= (env.limits?.inlineOperations ?? INLINE_OPERATIONS)) {
    const result = await runLoopIterations(node.id, config, context, idPrefix, env, { iteration: 0, last: null, kept: [] }, () => false);
    return result.settled!;
  }
  const input: LoopWorkflowInput = scopeOf({ ...node, config: { ...config } }, context, idPrefix, env);
  return runChild(LOOP_WORKFLOW_TYPE, node, idPrefix, input);
}

function scopeOf(node: NodeDef, context: ExpressionContext, idPrefix: string, env: IterationEnv): IterationScope {
  return { node, context, defaults: env.defaults, idPrefix, ...(env.limits && { limits: env.limits }) };
}

/** One child workflow for the whole node; its id is the execution id plus the node's path. */
async function runChild(type: string, node: NodeDef, idPrefix: string, input: MapWorkflowInput | LoopWorkflowInput): Promise<Settled> {
  return executeChild<(input: MapWorkflowInput | LoopWorkflowInput) => Promise<IterationResult>>(type, {
    workflowId: `${workflowInfo().workflowId}.${idPrefix}${node.id}`,
    args: [input],
  });
}
