import { randomUUID } from 'node:crypto';
import type { Db } from '../db/client';
import type { DagRunResult, DagWorkflowInput } from '../contracts/dag-workflow';
import { signClaim } from '../crypto/claim-signing';
import type { ErrorInfo, NodeDef, WorkflowDefinition } from '../domain/definition';
import { ExpressionCompiler, ExpressionError, containsTemplate, resolveTemplates, type ExpressionContext } from '../domain/expressions';
import { evaluateInlineNode, InlineNodeFailure } from '../domain/inline-nodes';
import { BUILTIN_CATALOG, executionOf } from '../domain/node-types';
import { resolveActivityPolicy } from '../domain/policy';
import { RUN_LIMITS, jsonBytes } from '../domain/run-limits';
import type { TemporalGateway } from '../temporal/gateway';
import { invalid, limitReached, notFound, temporalUnavailable, unavailable } from './errors';
import { MAX_INPUT_BYTES } from './executions';
import { getWorkflow, getWorkflowVersion } from './workflows';
import { tooManyRuns, type ExecutionAdmission } from './execution-admission';
import { TEST_NODE_WORKFLOW_PREFIX } from '../contracts/dag-workflow';

/** The longest POST /workflows/test-node waits for an activity node (its own timeout may be shorter). */
export const TEST_NODE_MAX_WAIT_MS = 5 * 60_000;
/** Activity tests one tenant may have in flight in one API process (each holds a request and a worker slot). */
export const TEST_NODE_MAX_IN_FLIGHT = 4;
/** Time past the node's own timeouts for the test run to be scheduled and to report. */
const SCHEDULING_MARGIN_MS = 30_000;

export interface TestNodeRequest {
  tenantId: string;
  /** An unsaved definition (checked by the caller), or the stored workflow's version (latest by default). */
  definition?: WorkflowDefinition;
  workflowId?: string;
  version?: number;
  nodeId: string;
  input?: unknown;
  /** Outputs of other nodes the tested node reads (`nodes.<id>.output`). */
  nodes?: Record<string, { output: unknown }>;
}

export interface TestNodeResult {
  status: 'SUCCEEDED' | 'FAILED';
  output: unknown;
  error: ErrorInfo | null;
  durationMs: number;
  attempts: number;
}

export interface TestNodeContext {
  db: Db;
  temporal: TemporalGateway;
  /** The tenant's bound on runs in progress: an activity test is refused (429) when the tenant is at it. */
  executionAdmission?: ExecutionAdmission;
}

const inFlight = new Map<string, number>();

/**
 * API time one tenant's in-workflow evaluations may take per minute in one API process. One
 * evaluation is bounded by the engine's limits (about half a second at worst), but it runs on
 * the API's event loop: without this, a tenant within its request rate could keep a core busy.
 */
export const TEST_NODE_EVALUATION_MS_PER_MINUTE = 10_000;
const evaluationTime = new Map<string, { windowStart: number; usedMs: number }>();

function evaluationWindow(tenantId: string, now = performance.now()): { windowStart: number; usedMs: number } {
  let window = evaluationTime.get(tenantId);
  if (!window || now - window.windowStart >= 60_000) {
    // Bounded: expired windows go once the map holds many tenants.
    if (evaluationTime.size > 10_000) for (const [id, w] of evaluationTime) if (now - w.windowStart >= 60_000) evaluationTime.delete(id);
    window = { windowStart: now, usedMs: 0 };
    evaluationTime.set(tenantId, window);
  }
  return window;
}

/**
 * Runs one node against a given context (DESIGN.md §6). In-workflow types (transform,
 * condition, switch, noop, fail) are evaluated here with the workflow's engine and limits.
 * Activity types run once for real on a worker: a one-node dagWorkflow under the caller's
 * tenant (signed claim; secrets, the SSRF guard and the node's timeout apply as in any run),
 * with `maximumAttempts: 1` and the given outputs as settled upstream nodes. Nothing is
 * mirrored: the test leaves no run behind. Types that wait or start child runs are refused.
 */
export async function testNode(ctx: TestNodeContext, request: TestNodeRequest): Promise<TestNodeResult> {
  const { definition, workflowId, version } = await definitionFor(ctx.db, request);
  const node = definition.nodes.find((n) => n.id === request.nodeId);
  if (!node) throw invalid(`no node "${request.nodeId}" at the top level of the definition`, [{ path: '/body/nodeId', message: `no top-level node "${request.nodeId}"` }]);
  checkContext(definition, request);
  const execution = executionOf(node.type);
  if (execution === 'inline') {
    const window = evaluationWindow(request.tenantId);
    if (window.usedMs >= TEST_NODE_EVALUATION_MS_PER_MINUTE) {
      throw limitReached('TEST_NODE_LIMIT', `this tenant's node tests took ${Math.round(window.usedMs)} ms of evaluation in the last minute; at most ${TEST_NODE_EVALUATION_MS_PER_MINUTE} ms per minute`);
    }
    const result = await evaluateInline(definition, node, contextFor(definition, request, workflowId, version));
    window.usedMs += result.durationMs;
    return result;
  }
  if (execution !== 'activity') {
    throw invalid(`a "${node.type}" node cannot be tested alone (it ${execution === 'timer' || execution === 'signal' ? 'waits' : 'runs child workflows'}); start a test run with mocks instead`, [
      { path: '/body/nodeId', message: `"${node.type}" nodes cannot be tested alone` },
    ]);
  }
  return runActivityOnce(ctx, request.tenantId, definition, node, request);
}

async function definitionFor(db: Db, request: TestNodeRequest): Promise<{ definition: WorkflowDefinition; workflowId?: string; version?: number }> {
  if (request.definition) return { definition: request.definition };
  if (request.workflowId === undefined) {
    throw invalid('give a definition, or a workflowId (and optionally a version)', [{ path: '/body', message: 'must have definition or workflowId' }]);
  }
  const stored =
    request.version === undefined
      ? await getWorkflow(db, request.tenantId, request.workflowId)
      : await getWorkflowVersion(db, request.tenantId, request.workflowId, request.version);
  if (!stored.definition) throw notFound(`workflow ${request.workflowId}`);
  return { definition: stored.definition as unknown as WorkflowDefinition, workflowId: request.workflowId, version: stored.version };
}

/** The given outputs name top-level nodes (every one that does not is listed); input and outputs are bounded like a run's input. */
function checkContext(definition: WorkflowDefinition, request: TestNodeRequest): void {
  const ids = new Set(definition.nodes.map((n) => n.id));
  const problems: { path: string; message: string }[] = [];
  for (const id of Object.keys(request.nodes ?? {})) {
    if (!ids.has(id)) problems.push({ path: `/body/nodes/${id.replace(/~/g, '~0').replace(/\//g, '~1')}`, message: `no top-level node "${id}"` });
    else if (id === request.nodeId) problems.push({ path: `/body/nodes/${id}`, message: 'the tested node itself cannot be given an output' });
  }
  for (const [field, value] of [['input', request.input], ['nodes', request.nodes]] as const) {
    const bytes = value === undefined ? 0 : jsonBytes(value);
    if (bytes > MAX_INPUT_BYTES) problems.push({ path: `/body/${field}`, message: `must be at most ${MAX_INPUT_BYTES} bytes as JSON (is ${bytes})` });
  }
  if (problems.length > 0) throw invalid(`the test context does not fit: ${problems.map((p) => p.message).join('; ')}`, problems);
}

/** What a run's expressions would see: the given outputs as SUCCEEDED nodes, every other node PENDING. */
function contextFor(definition: WorkflowDefinition, request: TestNodeRequest, workflowId?: string, version?: number): ExpressionContext {
  const nodes: ExpressionContext['nodes'] = {};
  for (const n of definition.nodes) {
    const given = request.nodes?.[n.id];
    nodes[n.id] = given ? { status: 'SUCCEEDED', output: given.output ?? null, error: null } : { status: 'PENDING', output: null, error: null };
  }
  return { input: request.input ?? {}, nodes, execution: { id: 'test-node', workflowId: workflowId ?? '', version: version ?? 0, startedAt: new Date().toISOString() } };
}

async function evaluateInline(definition: WorkflowDefinition, node: NodeDef, context: ExpressionContext): Promise<TestNodeResult> {
  const started = performance.now();
  const finish = (outcome: { output: unknown } | { error: ErrorInfo }): TestNodeResult => ({
    status: 'error' in outcome ? 'FAILED' : 'SUCCEEDED',
    output: 'error' in outcome ? null : outcome.output,
    error: 'error' in outcome ? outcome.error : null,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    attempts: 1,
  });
  // A fresh compiler: the per-evaluation limits (steps, allocation, RE2 regexes) are the workflow's.
  const compiler = new ExpressionCompiler();
  try {
    const spec = BUILTIN_CATALOG.get(node.type);
    const raw = node.config ?? {};
    const config = (containsTemplate(raw, spec?.expressionFields) ? await resolveTemplates(raw, context, compiler, spec?.expressionFields) : raw) as Record<string, unknown>;
    const hasDefault = (definition.edges ?? []).some((e) => e.from === node.id && e.when === 'default');
    const { output } = await evaluateInlineNode(node, config, (expression) => compiler.evaluate(String(expression), context), () => hasDefault);
    const bytes = jsonBytes(output);
    if (bytes > RUN_LIMITS.inlineOutputBytes) {
      return finish({ error: { type: 'OutputLimitExceeded', message: `node "${node.id}" produced ${bytes} bytes of output; an in-workflow node may produce at most ${RUN_LIMITS.inlineOutputBytes}`, details: { limit: 'inlineOutputBytes', bytes } } });
    }
    return finish({ output });
  } catch (err) {
    if (err instanceof InlineNodeFailure) return finish({ error: { type: err.type, message: err.message } });
    if (err instanceof ExpressionError) return finish({ error: { type: err.name, message: err.message, ...(err.limit && { details: { limit: err.limit } }) } });
    // Whatever else a tenant's expression makes the engine throw is the node's failure, as in a run, never a 500.
    const e = err instanceof Error ? err : new Error(String(err));
    return finish({ error: { type: e.name, message: e.message } });
  }
}

/**
 * A test holds a worker slot like a run does: a tenant at its cap of runs in progress
 * (TRELLIS_MAX_RUNNING_PER_TENANT, counting its tests in flight here) gets 429 TOO_MANY_RUNS.
 * Not reserved in Postgres as a run's slot is: at most TEST_NODE_MAX_IN_FLIGHT per API process can overshoot.
 */
async function admit(ctx: TestNodeContext, tenantId: string, testsInFlight: number): Promise<void> {
  if (!ctx.executionAdmission) return;
  const limit = ctx.executionAdmission.limit();
  const runs = await ctx.db.execution.count({ where: { tenantId, status: 'RUNNING' } });
  if (runs + testsInFlight > limit) throw tooManyRuns(runs + testsInFlight - 1, limit);
}

/**
 * The node once, for real, on a worker: the definition cut down to it (one attempt) and noop
 * stand-ins for the nodes whose outputs were given, which the run settles with those outputs
 * (as a retry reuses outputs) before the node resolves its templates.
 */
async function runActivityOnce(ctx: TestNodeContext, tenantId: string, definition: WorkflowDefinition, node: NodeDef, request: TestNodeRequest): Promise<TestNodeResult> {
  if (!ctx.temporal.runToResult) throw unavailable('TEMPORAL_UNAVAILABLE', 'this API cannot run nodes on a worker');
  const given = Object.keys(request.nodes ?? {});
  const { onError: _onError, trigger: _trigger, retry: _retry, ...kept } = node;
  const tested: NodeDef = { ...kept, retry: { maximumAttempts: 1 } };
  const testDefinition: WorkflowDefinition = {
    name: `test-node ${definition.name ?? ''}`.trim().slice(0, 200),
    ...(definition.defaults && { defaults: { ...definition.defaults, retry: { maximumAttempts: 1 } } }),
    nodes: [...given.map((id) => ({ id, type: 'noop' })), tested],
    edges: given.map((from) => ({ from, to: node.id })),
  };
  const policy = resolveActivityPolicy(tested, testDefinition.defaults);
  const ownTimeout = Math.min(policy.scheduleToCloseTimeout ?? Infinity, (policy.startToCloseTimeout ?? TEST_NODE_MAX_WAIT_MS) + (policy.scheduleToStartTimeout ?? 0));
  const waitMs = Math.min(ownTimeout + SCHEDULING_MARGIN_MS, TEST_NODE_MAX_WAIT_MS);
  const temporalId = `${TEST_NODE_WORKFLOW_PREFIX}${randomUUID()}`;
  const input: DagWorkflowInput = {
    tenantId,
    definition: testDefinition,
    ...(request.input === undefined ? {} : { input: request.input }),
    ...(given.length > 0 && { reuse: Object.fromEntries(given.map((id) => [id, request.nodes![id]!.output ?? null])) }),
  };
  const running = inFlight.get(tenantId) ?? 0;
  if (running >= TEST_NODE_MAX_IN_FLIGHT) {
    throw limitReached('TEST_NODE_LIMIT', `${running} node tests of this tenant are running; at most ${TEST_NODE_MAX_IN_FLIGHT} at once`);
  }
  inFlight.set(tenantId, running + 1);
  const release = () => {
    const left = (inFlight.get(tenantId) ?? 1) - 1;
    if (left > 0) inFlight.set(tenantId, left);
    else inFlight.delete(tenantId);
  };
  let started = performance.now();
  let result: DagRunResult | undefined;
  try {
    await admit(ctx, tenantId, running + 1);
    started = performance.now();
    result = await ctx.temporal.runToResult(temporalId, await signClaim(ctx.db, temporalId, input), waitMs);
  } catch (err) {
    throw temporalUnavailable('the node test could not run', { cause: err });
  } finally {
    release();
  }
  const durationMs = Math.round(performance.now() - started);
  if (!result) {
    return { status: 'FAILED', output: null, error: { type: 'TestNodeTimedOut', message: `no result within ${waitMs} ms; the test run was stopped` }, durationMs, attempts: 1 };
  }
  if (result.status === 'SUCCEEDED') return { status: 'SUCCEEDED', output: result.outputs[node.id] ?? null, error: null, durationMs, attempts: 1 };
  const error = result.error ?? { type: 'NodeFailed', message: `node "${node.id}" did not succeed` };
  // The run names the node in its message; the node's own error is what follows.
  const prefix = `node "${node.id}" failed: `;
  const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  return { status: 'FAILED', output: null, error: { type: error.type, message, ...(error.details === undefined ? {} : { details: error.details }) }, durationMs, attempts: 1 };
}
