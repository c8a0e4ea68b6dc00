import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ErrorInfo, NodeDef, RunStatus, WorkflowDefinition } from '../domain/definition';
import { isTerminal } from '../domain/definition';
import { ExpressionCompiler, containsTemplate, resolveTemplates, type ExpressionContext } from '../domain/expressions';
import { BUILTIN_CATALOG, executionOf } from '../domain/node-types';
import { DagPlanner, type Decision } from '../domain/planner';
import { DEFAULT_MAX_CONCURRENCY, resolveActivityPolicy } from '../domain/policy';
import { validateDefinition } from '../domain/validate';
import { hasLocalNodes } from '../domain/execution-mode';
import {
  RUN_FAILED_ERROR_TYPE,
  approveSignal,
  cancelSignal,
  stateQuery,
  type ApprovalDecision,
  type DagRunResult,
  type DagRunState,
  type DagWorkflowInput,
  type EngineActivities,
  type NodeState,
} from './contract';
import { describeFailure } from './failures';
import { runInlineNode } from './inline-nodes';
import { runActivityNode, runApprovalNode, runDelayNode, runSubworkflowNode, type Settled } from './node-runners';
import { RunMirror } from './run-mirror';

const { loadDefinition } = proxyActivities<EngineActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: ['WorkflowNotFound', 'InvalidDefinition'] },
});
/**
 * The same lookup as a local activity: a stored run's first step no longer waits a task-queue
 * round trip (and shows as one marker, not an activity). Retries back off on timers.
 */
const localEngine = proxyLocalActivities<EngineActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: ['WorkflowNotFound', 'InvalidDefinition'] },
  localRetryThreshold: 1,
  summary: 'load definition',
});
/** Runs recorded before loadDefinition became a local activity replay with the regular one. */
const LOCAL_LOAD_DEFINITION_PATCH = 'load-definition-as-local-activity';


/**
 * The one generic workflow: interprets a stored DAG definition. Scheduling decisions come from
 * the pure DagPlanner; this class only turns them into Temporal operations.
 */
export async function dagWorkflow(args: DagWorkflowInput): Promise<DagRunResult> {
  return new DagRun(args).execute();
}

class DagRun {
  private status: RunStatus = 'RUNNING';
  private definition?: WorkflowDefinition;
  private version?: number;
  private planner?: DagPlanner;
  private readonly nodes = new Map<string, NodeDef>();
  private readonly states = new Map<string, NodeState>();
  private readonly scopes = new Map<string, CancellationScope>();
  private readonly decisions = new Map<string, ApprovalDecision>();
  private readonly waitingActivities: string[] = [];
  private readonly compiler = new ExpressionCompiler();
  private readonly rootScope = CancellationScope.current();
  /** Activity nodes launched and not settled: what the concurrency bound counts. */
  private readonly activitiesInFlight = new Set<string>();
  private maxConcurrency = DEFAULT_MAX_CONCURRENCY;
  private cancelReason?: string;
  private cancelledByTemporal = false;
  private runError?: ErrorInfo;
  private readonly mirror = new RunMirror(workflowInfo().workflowId);

  constructor(private readonly args: DagWorkflowInput) {
    setHandler(stateQuery, () => this.snapshot());
    setHandler(cancelSignal, ({ reason } = {}) => this.cancel(reason ?? 'cancelled by request'));
    setHandler(approveSignal, (decision) => this.recordDecision(decision));
  }

  async execute(): Promise<DagRunResult> {
    await this.loadDefinition();
    this.startMirror();
    const definition = this.definition!;
    const planner = (this.planner = new DagPlanner(definition));
    this.maxConcurrency = this.args.maxConcurrency ?? definition.defaults?.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    for (const node of definition.nodes) {
      this.nodes.set(node.id, node);
      this.states.set(node.id, { type: node.type, status: 'PENDING', attempt: 0 });
    }
    this.rootScope.cancelRequested.catch(() => {
      this.cancelledByTemporal = true;
      this.cancel('cancelled through Temporal');
    });
    if (this.cancelReason === undefined) this.apply(planner.start());
    else this.cancelNodes();

    // Shielded so a Temporal cancellation still lets every node settle and be recorded.
    await CancellationScope.nonCancellable(() => condition(() => planner.isComplete()));
    return await this.finish();
  }

  /** Runs of stored workflows are mirrored into Postgres, however they were started. */
  private startMirror(): void {
    const info = workflowInfo();
    if (!this.args.workflowId || this.version === undefined) return;
    const scheduledBy = info.searchAttributes?.TemporalScheduledById?.[0];
    this.mirror.start({
      executionId: info.workflowId,
      temporalRunId: info.runId,
      workflowId: this.args.workflowId,
      version: this.version,
      input: this.args.input ?? null,
      startedAt: info.startTime.toISOString(),
      ...(typeof scheduledBy === 'string' && { scheduleId: scheduledBy }),
    }, !hasLocalNodes(this.definition!));
  }

  private async loadDefinition(): Promise<void> {
    if (this.args.definition) {
      const result = validateDefinition(this.args.definition, { allowUnknownTypes: true });
      if (!result.valid) {
        const summary = result.errors.slice(0, 5).map((e) => `${e.path}: ${e.message}`).join('; ');
        throw ApplicationFailure.nonRetryable(`invalid workflow definition: ${summary}`, 'InvalidDefinition', result.errors);
      }
      this.definition = this.args.definition;
      this.version = this.args.version;
      return;
    }
    if (!this.args.workflowId) {
      throw ApplicationFailure.nonRetryable('dagWorkflow needs a workflowId or a definition', 'InvalidInput');
    }
    const load = patched(LOCAL_LOAD_DEFINITION_PATCH) ? localEngine.loadDefinition : loadDefinition;
    const loaded = await load({ workflowId: this.args.workflowId, version: this.args.version });
    this.definition = loaded.definition;
    this.version = loaded.version;
  }

  private async finish(): Promise<DagRunResult> {
    const outputs: Record<string, unknown> = {};
    for (const [id, state] of this.states) if (state.status === 'SUCCEEDED') outputs[id] = state.output;
    const failedNode = this.planner!.failedNode;
    if (this.cancelReason !== undefined) {
      this.status = 'CANCELLED';
      this.runError = { type: 'Cancelled', message: this.cancelReason };
    } else if (failedNode !== undefined) {
      this.status = 'FAILED';
      const cause = this.states.get(failedNode)!.error;
      this.runError = {
        type: cause?.type ?? 'NodeFailed',
        message: `node "${failedNode}" failed: ${cause?.message ?? 'unknown error'}`,
        nodeId: failedNode,
        details: cause?.details,
      };
    } else {
      this.status = 'SUCCEEDED';
    }
    const result: DagRunResult = { status: this.status, outputs, ...(this.runError && { error: this.runError }) };
    this.mirror.run({ status: this.status, output: outputs, error: this.runError, finishedAt: now() });
    // The run's only wait on the mirror: its final state is in Postgres before it completes.
    await this.mirror.drain();
    if (this.cancelledByTemporal) throw new CancelledFailure(this.cancelReason);
    if (this.status === 'FAILED') {
      // Failing the Temporal execution makes the Web UI show the run as failed, with the node named.
      throw ApplicationFailure.create({ message: this.runError!.message, type: RUN_FAILED_ERROR_TYPE, nonRetryable: true, details: [result] });
    }
    return result;
  }

  // -- scheduling -------------------------------------------------------------------------------

  private apply(decision: Decision): void {
    for (const id of decision.skipped) this.update(id, { status: 'SKIPPED', finishedAt: now() });
    for (const id of decision.ready) {
      if (this.args.reuse && Object.hasOwn(this.args.reuse, id)) this.reuse(id, this.args.reuse[id]);
      else if (executionOf(this.nodes.get(id)!.type) === 'activity') this.waitingActivities.push(id);
      else this.launch(id);
    }
    this.launchActivities();
  }

  /** Retry from failure: a node that succeeded before settles with its old output, attempt 0. */
  private reuse(id: string, output: unknown): void {
    const type = this.nodes.get(id)!.type;
    const out = (output ?? {}) as { result?: unknown; case?: unknown };
    const branchValue = type === 'condition' ? out.result : type === 'switch' ? out.case : undefined;
    this.planner!.markStarted(id);
    this.settle(id, { status: 'SUCCEEDED', output, attempt: 0, branchValue });
  }

  /** Activity nodes past the concurrency bound wait here, first come first served. */
  private launchActivities(): void {
    while (this.activitiesInFlight.size < this.maxConcurrency && this.waitingActivities.length > 0) {
      const id = this.waitingActivities.shift()!;
      this.activitiesInFlight.add(id);
      this.launch(id);
    }
  }

  private launch(id: string): void {
    const node = this.nodes.get(id)!;
    const execution = executionOf(node.type);
    const status = execution === 'timer' || execution === 'signal' ? 'WAITING' : 'RUNNING';
    this.planner!.markStarted(id, status);
    this.update(id, { status, startedAt: now(), attempt: 1 });
    const scope = new CancellationScope({ cancellable: true, parent: this.rootScope });
    this.scopes.set(id, scope);
    scope
      .run(() => this.runNode(node))
      .then(
        (settled) => this.settle(id, settled),
        (err) => this.settle(id, this.failureOf(node, err)),
      );
  }

  private settle(id: string, settled: Settled): void {
    this.scopes.delete(id);
    this.activitiesInFlight.delete(id);
    const { branchValue, ...rest } = settled;
    this.update(id, { ...rest, attempt: settled.attempt ?? this.states.get(id)!.attempt, finishedAt: now() });
    const planner = this.planner!;
    const wasFailing = planner.failedNode !== undefined;
    const branch = settled.status === 'SUCCEEDED' && branchValue !== undefined ? planner.branchLabel(id, branchValue) : undefined;
    const decision = planner.settle(id, { status: settled.status, branch });
    if (!wasFailing && planner.failedNode !== undefined) this.windDown();
    if (this.cancelReason === undefined) this.apply(decision);
  }

  /** After a fatal node failure: stop what runs and what waits; cleanup (all_done) nodes still run. */
  private windDown(): void {
    for (const scope of this.scopes.values()) scope.cancel();
    for (const id of this.waitingActivities.splice(0)) {
      if (this.nodes.get(id)!.trigger === 'all_done') {
        this.waitingActivities.push(id);
      } else {
        this.update(id, { status: 'SKIPPED', finishedAt: now() });
        this.apply(this.planner!.settle(id, { status: 'SKIPPED' }));
      }
    }
  }

  private cancel(reason: string): void {
    if (this.cancelReason !== undefined || this.status !== 'RUNNING') return;
    this.cancelReason = reason;
    this.cancelNodes();
  }

  /** Cancels what runs; nodes that never started end CANCELLED at once. */
  private cancelNodes(): void {
    if (!this.planner) return;
    this.waitingActivities.length = 0;
    for (const scope of this.scopes.values()) scope.cancel();
    for (const id of this.planner.cancelPending()) this.update(id, { status: 'CANCELLED', finishedAt: now() });
  }

  private recordDecision(decision: ApprovalDecision): void {
    const node = this.nodes.get(decision.nodeId);
    // Before the definition is loaded we cannot tell; keep the decision until the node waits.
    if (node && (node.type !== 'approval' || isTerminal(this.states.get(node.id)!.status))) return;
    if (!this.decisions.has(decision.nodeId)) this.decisions.set(decision.nodeId, decision);
  }

  // -- running one node -------------------------------------------------------------------------

  private async runNode(node: NodeDef): Promise<Settled> {
    const spec = BUILTIN_CATALOG.get(node.type);
    const execution = executionOf(node.type);
    const raw = node.config ?? {};
    // The context copies every node's state; building it for each of 1,000 plain activity
    // nodes made wide fan-outs quadratic, so only nodes that evaluate something get one.
    const templated = containsTemplate(raw, spec?.expressionFields);
    const context = templated || execution === 'inline' ? this.expressionContext() : undefined;
    const config = (templated ? await resolveTemplates(raw, context!, this.compiler, spec?.expressionFields) : raw) as Record<string, unknown>;
    switch (execution) {
      case 'activity':
        return runActivityNode(node, config, this.definition!.defaults);
      case 'inline':
        return { status: 'SUCCEEDED', attempt: 1, ...(await runInlineNode(node, config, context!, this.compiler)) };
      case 'timer':
        return runDelayNode(config);
      case 'signal':
        return runApprovalNode(node, config, this.decisions);
      case 'child':
        return runSubworkflowNode(node, config);
    }
  }

  // -- state ------------------------------------------------------------------------------------

  private failureOf(node: NodeDef, err: unknown): Settled {
    if (isCancellation(err)) {
      const failed = this.planner!.failedNode;
      const message = this.cancelReason ?? (failed !== undefined ? `cancelled because node "${failed}" failed` : 'cancelled');
      return { status: 'CANCELLED', error: { type: 'Cancelled', message } };
    }
    const failure = describeFailure(err, () => resolveActivityPolicy(node, this.definition!.defaults).retry.maximumAttempts);
    return { status: 'FAILED', ...failure };
  }

  private update(id: string, patch: Partial<NodeState>): void {
    const state = this.states.get(id)!;
    Object.assign(state, patch);
    this.mirror.node({ nodeId: id, ...state });
  }

  private expressionContext(): ExpressionContext {
    const info = workflowInfo();
    const nodes: ExpressionContext['nodes'] = {};
    for (const [id, state] of this.states) nodes[id] = { status: state.status, output: state.output ?? null, error: state.error ?? null };
    return {
      input: this.args.input ?? {},
      nodes,
      execution: { id: info.workflowId, workflowId: this.args.workflowId ?? '', version: this.version ?? 0, startedAt: info.startTime.toISOString() },
    };
  }

  private snapshot(): DagRunState {
    const nodes: Record<string, NodeState> = {};
    let done = 0;
    for (const [id, state] of this.states) {
      nodes[id] = { ...state };
      if (isTerminal(state.status)) done++;
    }
    return {
      status: this.status,
      workflowId: this.args.workflowId,
      version: this.version,
      progress: { total: this.states.size, done },
      nodes,
      ...(this.runError && { error: this.runError }),
    };
  }
}

function now(): string {
  return new Date().toISOString();
}
