import { ApplicationFailure, CancellationScope, CancelledFailure, executeChild, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { Value } from '@sinclair/typebox/value';
import type { NodeDef, WorkflowDefinition } from '../domain/definition';
import { ExpressionCompiler, resolveTemplates, type ExpressionContext } from '../domain/expressions';
import {
  BATCH_INPUT_BYTES,
  LoopConfigSchema,
  MAP_DEFAULT_CONCURRENCY,
  MAP_DEFAULT_MAX_ITEMS,
  MapConfigSchema,
  bodyCost,
  itemRanges,
  mapOutput,
  planMap,
  reusableItems,
  splitBySize,
  toleratedCount,
  type ItemOutcome,
  type LoopConfig,
  type MapConfig,
  type MapOutput,
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
} from '../contracts/iteration-workflows';
import type { IterationStoreActivities, ItemsChunk } from '../contracts/iteration-store';
import { runLoopIterations } from './loop-iterations';
import { runItems } from './map-items';
import type { Settled } from '../contracts/settled';
import { childRunOptions } from './search-attributes';
import type { PauseGate } from './run-pause';

const store = proxyActivities<IterationStoreActivities>({ startToCloseTimeout: '5m', retry: { maximumAttempts: 5 } });

/** Work a map or loop may do inside the current workflow before it moves to a child workflow. */
const INLINE_OPERATIONS = 200;

export interface IterationOptions {
  compiler: ExpressionCompiler;
  defaults: WorkflowDefinition['defaults'];
  /** Retry from failure: the node's output in the run being retried. */
  previous?: unknown;
  limits?: IterationLimits;
  tenantId?: string;
  depth?: number;
  /** The pause of the workflow the node runs in. */
  pause?: PauseGate;
}

/** Runs a map or loop node (top level or inside a body) and settles it like any node. */
export async function runIterationNode(
  node: NodeDef,
  context: ExpressionContext,
  idPrefix: string,
  options: IterationOptions,
): Promise<Settled> {
  const env = bodyEnv(options.compiler, options.defaults, options.limits, options);
  return node.type === 'map' ? runMap(node, context, idPrefix, env, options) : runLoop(node, context, idPrefix, env);
}

export type IterationEnv = BodyEnv & { limits?: IterationLimits };

export function bodyEnv(
  compiler: ExpressionCompiler,
  defaults: WorkflowDefinition['defaults'],
  limits: IterationLimits | undefined,
  owner: { tenantId?: string; depth?: number; pause?: PauseGate },
): IterationEnv {
  const { tenantId, depth = 0, pause } = owner;
  return {
    compiler,
    defaults,
    limits,
    ...(tenantId !== undefined && { tenantId }),
    depth,
    ...(pause && { pause }),
    runIteration: (node, context, idPrefix) => runIterationNode(node, context, idPrefix, { compiler, defaults, limits, tenantId, depth, pause }),
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
  const maxItems = config.maxItems ?? MAP_DEFAULT_MAX_ITEMS;
  const cost = bodyCost(config.body, (type) => executionOf(type) === 'inline');
  const limits = env.limits ?? {};
  const concurrency = config.maxConcurrency ?? MAP_DEFAULT_CONCURRENCY;
  const inlineBudget = limits.inlineOperations ?? INLINE_OPERATIONS;
  const batchSize = planMap(Number.MAX_SAFE_INTEGER, cost, concurrency, inlineBudget, limits.batchSize).batchSize;

  const listed = await listItems(node, config, context, env, maxItems, batchSize);
  const total = 'items' in listed ? listed.items.length : listed.total;
  const tolerated = toleratedCount(config.toleratedFailures, total);
  const reuse = options.previous === undefined ? undefined : reusableItems(options.previous, total);
  const plan = planMap(total, cost, concurrency, inlineBudget, limits.batchSize);

  if (plan.inline && 'items' in listed) {
    const outcomes = await runItems(
      {
        nodeId: node.id,
        body: config.body,
        output: config.output,
        items: listed.items,
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
    return settleMap(node.id, total, tolerated, outcomes);
  }
  const chunks = 'items' in listed ? inlineChunks(listed.items, batchSize) : listed.chunks;
  const input: MapWorkflowInput = {
    ...scopeOf({ ...node, config: { ...config } }, context, idPrefix, env),
    total,
    chunks,
    output: config.output,
    plan,
    tolerated,
    ...(reuse && { reuse: Object.fromEntries(reuse) }),
  };
  return runChild(MAP_WORKFLOW_TYPE, node, idPrefix, input, env.pause);
}

/** Items listed in the workflow itself at most this large; larger lists are stored by the store activity. */
const ITEMS_INLINE_BYTES = 256 * 1024;

/**
 * Evaluates `items`: in the workflow when it reads no stored output and yields a small list;
 * otherwise in an activity that resolves stored outputs and stores the list in batches, so a
 * large list never enters a workflow history whole.
 */
async function listItems(
  node: NodeDef,
  config: MapConfig,
  context: ExpressionContext,
  env: IterationEnv,
  maxItems: number,
  batchSize: number,
): Promise<{ items: unknown[] } | { total: number; chunks: ItemsChunk[] }> {
  if (!readsStoredOutput(context)) {
    const evaluated = await env.compiler.evaluate(config.items, context);
    if (evaluated !== null && !Array.isArray(evaluated)) {
      throw ApplicationFailure.nonRetryable(
        `map "${node.id}": items must evaluate to an array, got ${typeof evaluated} (wrap a single value in [ ])`,
        'MapItemsNotArray',
      );
    }
    const items = evaluated ?? [];
    if (items.length > maxItems) {
      throw ApplicationFailure.nonRetryable(`map "${node.id}": ${items.length} items exceed maxItems (${maxItems})`, 'MapTooManyItems');
    }
    if (JSON.stringify(items).length <= ITEMS_INLINE_BYTES) return { items };
  }
  const listed = await store.evaluateMapItems({
    executionId: context.execution.id,
    nodeId: node.id,
    expression: config.items,
    context,
    maxItems,
    batchSize,
    batchBytes: BATCH_INPUT_BYTES,
    ...(env.tenantId !== undefined && { tenantId: env.tenantId }),
  });
  if ('error' in listed) throw ApplicationFailure.nonRetryable(`map "${node.id}": ${listed.error.message}`, listed.error.type);
  return listed;
}

function readsStoredOutput(context: ExpressionContext): boolean {
  return Object.values(context.nodes).some((n) => {
    const output = n.output as { $trellisRef?: unknown } | null | undefined;
    return output !== null && typeof output === 'object' && typeof output.$trellisRef === 'string';
  });
}

function inlineChunks(items: unknown[], batchSize: number): ItemsChunk[] {
  const sizes = items.map((item) => JSON.stringify(item ?? null).length);
  return itemRanges(items.length, batchSize)
    .flatMap((range) => splitBySize(range, (i) => sizes[i]!))
    .map((range) => ({ ...range, items: items.slice(range.start, range.end) }));
}

/** Folds outcomes into the node's result; past the tolerated failures the node fails. */
export function settleMap(nodeId: string, total: number, tolerated: number, outcomes: Iterable<ItemOutcome>): Settled {
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('map cancelled');
  return settleMapOutput(nodeId, tolerated, mapOutput(total, outcomes));
}

export function settleMapOutput(nodeId: string, tolerated: number, output: MapOutput): Settled {
  const total = output.counts.total;
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
  return runChild(LOOP_WORKFLOW_TYPE, node, idPrefix, input, env.pause);
}

function scopeOf(node: NodeDef, context: ExpressionContext, idPrefix: string, env: IterationEnv): IterationScope {
  return {
    node,
    context,
    defaults: env.defaults,
    idPrefix,
    ...(env.limits && { limits: env.limits }),
    ...(env.tenantId !== undefined && { tenantId: env.tenantId }),
    depth: env.depth,
  };
}

/** One child workflow for the whole node; its id is the execution id plus the node's path. */
async function runChild(type: string, node: NodeDef, idPrefix: string, input: MapWorkflowInput | LoopWorkflowInput, pause?: PauseGate): Promise<Settled> {
  const workflowId = `${workflowInfo().workflowId}.${idPrefix}${node.id}`;
  const running = executeChild<(input: MapWorkflowInput | LoopWorkflowInput) => Promise<IterationResult>>(type, {
    workflowId,
    args: [pause ? pause.childInput(input) : input],
    ...childRunOptions('ITERATION'),
  });
  // [run-pause] the child follows this workflow's pause until it ends.
  return pause ? pause.track(workflowId, running) : running;
}
