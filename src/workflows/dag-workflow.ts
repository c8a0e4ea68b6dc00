import {
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  isCancellation,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { ErrorInfo, NodeDef, ExecutionStatus, WorkflowDefinition } from '../domain/definition';
import { isTerminal } from '../domain/definition';
import { ExpressionCompiler, containsTemplate, type ExpressionContext } from '../domain/expressions';
import { secretRefPaths } from '../domain/secrets';
import { BUILTIN_CATALOG, executionOf } from '../domain/node-types';
import { DagPlanner, type Decision } from '../domain/planner';
import { DEFAULT_MAX_CONCURRENCY, resolveActivityPolicy } from '../domain/policy';
import { emptyTemplates } from '../domain/template-trace';
import { hasLocalNodes, runsLocalActivitiesBesideMirror } from '../domain/execution-mode';
import {
  RUN_FAILED_ERROR_TYPE,
  approveSignal,
  cancelSignal,
  stateQuery,
  type ApprovalDecision,
  type DagRunResult,
  type DagRunState,
  type DagWorkflowInput,
  type NodeState,
} from '../contracts/dag-workflow';
import {
  DROPPED_START_PATCH,
  LEAN_ACTIVITY_NODES_PATCH,
  NODE_RESULT_MIRROR_PATCH,
  REGULAR_MIRROR_BESIDE_LOCAL_ACTIVITIES_PATCH,
  RUN_CONCURRENCY_PATCH,
  SWITCH_NULL_DEFAULT_PATCH,
} from '../contracts/patches';
import { describeFailure } from './failures';
import { runIterationNode } from './iteration-node';
import { runActivityNode, scheduleActivityNode } from './node-runners';
import { deferredActivities } from './tenant-share-deferral';
import { runNodeOfGraph, type NodeEnv } from './node-dispatch';
import { mockedResult } from './node-mocks';
import type { Settled } from '../contracts/settled';
import { RunBudget } from './run-budget';
import { RunMirror } from './run-mirror';
import { RunTimer, awaitExecutionTimeout, runTimeoutMs } from './run-timer';
import { runLimitedActivityNode } from './node-limits';
import { hasNodeLimits } from '../domain/flow-control';
import { completeRunLabels } from './search-attributes';
import { loadRun, type LoadedRun } from './run-loading';
import { RunStopper, StopRequest } from './run-stop';
import { recordDroppedStart, releaseRunSlot, takeRunSlot } from './run-queue';
import { PauseGate } from './run-pause';
import { useRecordedSdkFlags } from './recorded-sdk-flags';

/**
 * The one generic workflow: interprets a stored DAG definition. Scheduling decisions come from
 * the pure DagPlanner; DagRun only turns them into Temporal operations. Until the definition is
 * loaded, signals are recorded (a stop request, approval decisions) and DagRun acts on them.
 */
export async function dagWorkflow(args: DagWorkflowInput): Promise<DagRunResult> {
  useRecordedSdkFlags();
  const rootScope = CancellationScope.current();
  const stop = new StopRequest();
  const decisions = new Map<string, ApprovalDecision>();
  const pause = PauseGate.forRun();
  setHandler(stateQuery, () => ({ status: 'RUNNING', workflowId: args.workflowId, version: undefined, progress: { total: 0, done: 0 }, nodes: {} }));
  setHandler(cancelSignal, ({ reason, force } = {}) => void stop.request(reason ?? 'cancelled by request', force === true));
  // The node is not known yet; the decision is kept until it waits.
  setHandler(approveSignal, (decision) => void (decisions.has(decision.nodeId) || decisions.set(decision.nodeId, decision)));
  const loaded = await loadRun(args);
  return new DagRun(args, loaded, { rootScope, stop, decisions, pause }).execute();
}

class DagRun {
  private status: ExecutionStatus = 'RUNNING';
  /** Waiting in line for a run-level concurrency slot (run-queue.ts): the state query says QUEUED. */
  private queued = false;
  private readonly definition: WorkflowDefinition;
  private readonly version: number | undefined;
  private readonly tenantId: string | undefined;
  private readonly planner: DagPlanner;
  private readonly nodes = new Map<string, NodeDef>();
  private readonly states = new Map<string, NodeState>();
  private readonly scopes = new Map<string, CancellationScope>();
  /** Shared scopes of plain activity nodes, by how they are stopped (see sharedScope). */
  private readonly sharedScopes = new Map<string, CancellationScope>();
  private readonly decisions: Map<string, ApprovalDecision>;
  private readonly waitingActivities: string[] = [];
  private readonly compiler = new ExpressionCompiler();
  private readonly budget = new RunBudget(this.compiler);
  private readonly rootScope: CancellationScope;
  /** Activity nodes launched and not settled: what the concurrency bound counts. */
  private readonly activitiesInFlight = new Set<string>();
  private readonly maxConcurrency: number;
  private readonly stop: StopRequest;
  private readonly stopper: RunStopper;
  private readonly pause: PauseGate;
  private readonly nodeEnv: NodeEnv;
  private runError: ErrorInfo | undefined;
  private readonly mirror = new RunMirror(workflowInfo().workflowId);
  /** The seq reserved for each running activity node's result, which its activity writes first. */
  private readonly reservedSeqs = new Map<string, number>();
  /** Read once (patched() is recorded the first time), on the first plain activity node. */
  private leanActivities: boolean | undefined;

  constructor(
    private readonly args: DagWorkflowInput,
    loaded: LoadedRun,
    early: { rootScope: CancellationScope; stop: StopRequest; decisions: Map<string, ApprovalDecision>; pause: PauseGate },
  ) {
    ({ definition: this.definition, version: this.version, tenantId: this.tenantId, planner: this.planner } = loaded);
    this.rootScope = early.rootScope;
    this.stop = early.stop;
    this.stopper = new RunStopper(this.stop, new RunTimer(this.rootScope), {
      planner: this.planner,
      waitingActivities: this.waitingActivities,
      runningScopes: this.scopes,
      isRunning: () => this.status === 'RUNNING',
      cancelScopes: (scopes) => this.cancelScopes(scopes),
      endNode: (id, status) => this.update(id, { status, finishedAt: now() }),
      apply: (decision) => this.apply(decision),
    });
    this.decisions = early.decisions;
    // [run-pause] held nodes start on resume; a stop lifts the pause (run-pause.ts).
    this.pause = early.pause;
    this.pause.attach({ changed: (p) => this.mirror.pause(p), release: (ids) => this.stopper.releaseHeld(ids), lifted: () => this.stop.stopping });
    this.nodeEnv = this.buildNodeEnv();
    this.maxConcurrency = args.maxConcurrency ?? this.definition.defaults?.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    setHandler(stateQuery, () => this.snapshot());
    setHandler(cancelSignal, ({ reason, force } = {}) => this.stopper.cancel(reason ?? 'cancelled by request', force === true));
    setHandler(approveSignal, (decision) => this.recordDecision(decision));
  }

  async execute(): Promise<DagRunResult> {
    const { definition, planner } = this;
    completeRunLabels({ version: this.version, workflowName: definition.name });
    this.startMirror();
    // Run-level concurrency (run-queue.ts): QUEUED until a slot is free; a run stopped there runs no node.
    if (definition.concurrency && patched(RUN_CONCURRENCY_PATCH)) {
      const queue = await takeRunSlot({ ...this.args, definition, tenantId: this.tenantId, version: this.version, compiler: this.compiler, mirror: this.mirror, stop: this.stop, cancel: (reason, force) => this.stopper.cancel(reason, force), onQueued: (queued) => (this.queued = queued) });
      // A schedule's start that was dropped leaves no run: it is recorded as dropped on the
      // schedule instead (DESIGN §5). The API refuses its own drops before starting (409); other
      // starts from outside (Temporal UI, CLI) keep their row, ended CANCELLED, as their record.
      const scheduleId = workflowInfo().searchAttributes?.TemporalScheduledById?.[0];
      if (queue.dropped && typeof scheduleId === 'string' && this.args.workflowId && this.tenantId !== undefined && patched(DROPPED_START_PATCH)) {
        return this.endDropped(queue.dropped, scheduleId);
      }
    }
    for (const node of definition.nodes) {
      this.nodes.set(node.id, node);
      this.states.set(node.id, { type: node.type, status: 'PENDING', attempt: 0 });
    }
    this.rootScope.cancelRequested.catch(() => this.stopper.cancelledByTemporal());
    // A stop requested before the definition was loaded takes effect instead of the start.
    this.stopper.begin(() => this.apply(planner.start()), () => runTimeoutMs(this.args.runTimeout ?? definition.runTimeout));

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
      ...(this.args.mocks && Object.keys(this.args.mocks).length > 0 && { test: true as const }),
    }, this.mirrorWritesLocally());
  }

  /**
   * Local mirror writes only while no other local activity runs beside them (runs recorded with
   * local nodes at the top level always wrote with regular activities; the rest since the patch).
   */
  private mirrorWritesLocally(): boolean {
    if (hasLocalNodes(this.definition)) return false;
    return !(runsLocalActivitiesBesideMirror(this.definition) && patched(REGULAR_MIRROR_BESIDE_LOCAL_ACTIVITIES_PATCH));
  }

  /** The dropped start's row (written at start) goes, and its schedule counts the drop. */
  private async endDropped(dropped: { key: string; reason: string }, scheduleId: string): Promise<DagRunResult> {
    await this.mirror.drain();
    await recordDroppedStart({
      executionId: workflowInfo().workflowId,
      tenantId: this.tenantId!,
      workflowId: this.args.workflowId!,
      scheduleId,
      key: dropped.key,
      reason: dropped.reason,
    });
    return { status: 'CANCELLED', outputs: {}, error: { type: 'StartDropped', message: dropped.reason } };
  }

  private async finish(): Promise<DagRunResult> {
    const outputs: Record<string, unknown> = {};
    for (const [id, state] of this.states) if (state.status === 'SUCCEEDED') outputs[id] = state.output;
    const failedNode = this.planner.failedNode;
    const { reason } = this.stop;
    this.stopper.disarm();
    await releaseRunSlot();
    if (this.stop.timedOut && reason !== undefined) {
      this.status = 'TIMED_OUT';
      this.runError = { type: 'RunTimedOut', message: reason };
    } else if (reason !== undefined) {
      this.status = 'CANCELLED';
      this.runError = { type: 'Cancelled', message: reason };
    } else if (failedNode !== undefined) {
      this.status = 'FAILED';
      const cause = this.states.get(failedNode)?.error;
      this.runError = {
        type: cause?.type ?? 'NodeFailed',
        message: `node "${failedNode}" failed: ${cause?.message ?? 'unknown error'}`,
        nodeId: failedNode,
        details: cause?.details,
      };
    } else {
      this.status = 'SUCCEEDED';
    }
    const error = this.runError;
    const result: DagRunResult = { status: this.status, outputs, ...(error && { error }) };
    this.mirror.run({ status: this.status, output: outputs, error, finishedAt: now() });
    // The run's only wait on the mirror: its final state is in Postgres before it completes.
    await this.mirror.drain();
    if (this.status === 'TIMED_OUT' && error) {
      // Temporal's execution timeout (set at start just past runTimeout and its grace) ends it TIMED_OUT.
      await awaitExecutionTimeout();
      throw ApplicationFailure.create({ message: error.message, type: 'RunTimedOut', nonRetryable: true, details: [result] });
    }
    if (this.stop.byTemporal) throw new CancelledFailure(reason);
    if (this.status === 'FAILED' && error) {
      // Failing the Temporal execution makes the Web UI show the run as failed, with the node named.
      throw ApplicationFailure.create({ message: error.message, type: RUN_FAILED_ERROR_TYPE, nonRetryable: true, details: [result] });
    }
    return result;
  }

  // -- scheduling -------------------------------------------------------------------------------

  private apply(decision: Decision): void {
    for (const id of decision.skipped) this.update(id, { status: 'SKIPPED', finishedAt: now() });
    for (const id of this.pause.admit(decision.ready)) {
      if (this.args.reuse && Object.hasOwn(this.args.reuse, id)) this.reuse(id, this.args.reuse[id]);
      else if (executionOf(this.nodeOf(id).type) === 'activity') this.waitingActivities.push(id);
      else this.launch(id);
    }
    this.launchActivities();
  }

  /** Retry from failure: a node that succeeded before settles with its old output, attempt 0. */
  private reuse(id: string, output: unknown): void {
    const type = this.nodeOf(id).type;
    const out = (output ?? {}) as { result?: unknown; case?: unknown };
    const branchValue = type === 'condition' ? out.result : type === 'switch' ? out.case : undefined;
    this.planner.markStarted(id);
    this.budget.count(output);
    this.settle(id, { status: 'SUCCEEDED', output, attempt: 0, branchValue });
  }

  /** Activity nodes past the concurrency bound wait here, first come first served. */
  private launchActivities(): void {
    if (this.pause.holding) return;
    let batch: { scope: CancellationScope; ids: string[] } | undefined;
    let id: string | undefined;
    while (this.activitiesInFlight.size < this.maxConcurrency && (id = this.waitingActivities.shift()) !== undefined) {
      this.activitiesInFlight.add(id);
      if (this.isPlainActivity(this.nodeOf(id)) && this.leanActivityNodes()) {
        const scope = this.sharedScope(id);
        if (batch && batch.scope !== scope) this.launchInScope(batch);
        if (!batch || batch.scope !== scope) batch = { scope, ids: [] };
        batch.ids.push(id);
        continue;
      }
      // Launch order is kept: the batch so far goes first.
      if (batch) this.launchInScope(batch);
      batch = undefined;
      this.launch(id);
    }
    if (batch) this.launchInScope(batch);
  }

  /**
   * Plain activity nodes of one shared scope, scheduled inside one scope.run: its promises are
   * paid once per batch, not once per node. Their transitions are recorded and their results
   * handled outside the scope, as launch() does, so a mirror write never joins a node's scope.
   */
  private launchInScope({ scope, ids }: { scope: CancellationScope; ids: string[] }): void {
    const nodes = ids.map((id) => this.nodeOf(id));
    for (const node of nodes) {
      this.planner.markStarted(node.id, 'RUNNING');
      this.update(node.id, { status: 'RUNNING', startedAt: now(), attempt: 1 });
      this.reserveResultSeq(node.id);
      this.scopes.set(node.id, scope);
    }
    const running: Promise<Settled>[] = [];
    // The callback runs at once (up to its first await, and it has none).
    void scope.run(async () => {
      for (const node of nodes) running.push(this.startNode(node));
    });
    running.forEach((settling, i) => {
      const node = nodes[i] as NodeDef;
      settling.then(
        (settled) => this.settle(node.id, settled),
        (err) => this.settle(node.id, this.failureOf(node, err)),
      );
    });
  }

  private startNode(node: NodeDef): Promise<Settled> {
    try {
      return this.runNode(node);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private launch(id: string): void {
    const node = this.nodeOf(id);
    const execution = executionOf(node.type);
    const status = execution === 'timer' || execution === 'signal' ? 'WAITING' : 'RUNNING';
    this.planner.markStarted(id, status);
    this.update(id, { status, startedAt: now(), attempt: 1 });
    if (execution === 'activity') this.reserveResultSeq(id);
    // After a Temporal cancellation the root scope is cancelled: cleanup nodes then run in a
    // non-cancellable scope (they finish whatever comes next; terminate is the hard stop). A
    // cancellable scope below a non-cancellable one would depend on an SDK flag that not every
    // server records, so replays could differ.
    const scope = this.newScope();
    this.scopes.set(id, scope);
    scope
      .run(() => this.runNode(node))
      .then(
        (settled) => this.settle(id, settled),
        (err) => this.settle(id, this.failureOf(node, err)),
      );
  }

  private newScope(): CancellationScope {
    return this.stop.byTemporal
      ? new CancellationScope({ cancellable: false, parent: this.rootScope })
      : new CancellationScope({ cancellable: true, parent: this.rootScope });
  }

  /**
   * Plain activity nodes share a scope per way they are stopped (every cancel path cancels
   * either all running nodes or those that do not run when stopping): a scope costs the SDK
   * three tracked promises, a third of a wide fan-out's workflow time. A cancelled shared scope
   * is dropped, so nodes launched after it get a fresh one.
   */
  private sharedScope(id: string): CancellationScope {
    const key = `${this.stop.byTemporal}/${this.planner.runsWhenStopping(id)}`;
    let scope = this.sharedScopes.get(key);
    if (!scope) this.sharedScopes.set(key, (scope = this.newScope()));
    return scope;
  }

  /** Cancels each distinct scope once, in launch order; a cancelled shared scope takes no new nodes. */
  private cancelScopes(scopes: Iterable<CancellationScope>): void {
    const cancelled = new Set(scopes);
    for (const scope of cancelled) scope.cancel();
    for (const [key, scope] of this.sharedScopes) if (cancelled.has(scope)) this.sharedScopes.delete(key);
  }

  private settle(id: string, settled: Settled): void {
    this.scopes.delete(id);
    this.activitiesInFlight.delete(id);
    const { branchValue, mirrored, ...rest } = settled;
    // The activity wrote SUCCEEDED with the reserved seq; any other outcome is news and gets a new one.
    const reserved = settled.status === 'SUCCEEDED' ? this.reservedSeqs.get(id) : undefined;
    this.reservedSeqs.delete(id);
    // A result the activity wrote itself keeps the time it wrote, so the row matches this state.
    const finishedAt = mirrored?.finishedAt ?? now();
    this.update(id, { ...rest, attempt: settled.attempt ?? this.stateOf(id).attempt, finishedAt }, reserved, mirrored !== undefined);
    const planner = this.planner;
    const wasFailing = planner.failedNode !== undefined;
    const branch = settled.status === 'SUCCEEDED' && branchValue !== undefined ? planner.branchLabel(id, branchValue) : undefined;
    const decision = planner.settle(id, { status: settled.status, branch, errorType: settled.error?.type });
    // While stopping, a failing cleanup node does not cut the other cleanup nodes short.
    if (!wasFailing && planner.failedNode !== undefined && this.stop.mode !== 'cleanup') this.stopper.windDown();
    if (!this.stop.stopping || this.stop.mode === 'cleanup') this.apply(decision);
  }

  private recordDecision(decision: ApprovalDecision): void {
    const node = this.nodes.get(decision.nodeId);
    if (node && (node.type !== 'approval' || isTerminal(this.stateOf(node.id).status))) return;
    if (!this.decisions.has(decision.nodeId)) this.decisions.set(decision.nodeId, decision);
  }

  // -- running one node -------------------------------------------------------------------------

  private runNode(node: NodeDef): Promise<Settled> {
    // A test run's mocked node settles as it was told to, without running (node-mocks.ts).
    const mocked = mockedResult(this.args.mocks, node);
    if (mocked) return Promise.resolve(this.admitMocked(node, mocked));
    if (this.isPlainActivity(node) && this.leanActivityNodes()) {
      const raw = node.config ?? {};
      this.budget.checkActivityConfig(node.id, raw);
      return this.budget.reserveActivityRoom((room) => scheduleActivityNode(node, raw, this.definition.defaults, this.tenantId, room, this.resultTicket(node.id)));
    }
    return this.evaluateAndRun(node);
  }

  /** A mocked output counts against the run's budget like any other (its size is bounded at the API). */
  private admitMocked(node: NodeDef, mocked: Settled): Settled {
    if (mocked.status === 'SUCCEEDED') this.budget.admitOutput(node.id, mocked.output);
    return mocked;
  }

  /** An activity node with nothing to evaluate: its config goes to the activity as written. */
  private isPlainActivity(node: NodeDef): boolean {
    // [node-limits] call site: a limited node takes its turn first (evaluateAndRun).
    if (hasNodeLimits(node)) return false;
    return executionOf(node.type) === 'activity' && !containsTemplate(node.config ?? {}, BUILTIN_CATALOG.get(node.type)?.expressionFields);
  }

  private leanActivityNodes(): boolean {
    return (this.leanActivities ??= patched(LEAN_ACTIVITY_NODES_PATCH));
  }

  /** Nodes that evaluate something, are limited, or are not plain activities: the shared dispatch table. */
  private evaluateAndRun(node: NodeDef): Promise<Settled> {
    return runNodeOfGraph(node, this.nodeEnv);
  }

  /** The run as the graph its nodes run in: its budget, its mirror, its approval decisions. */
  private buildNodeEnv(): NodeEnv {
    return {
      compiler: this.compiler,
      defaults: this.definition.defaults,
      tenantId: this.tenantId,
      depth: this.args.depth ?? 0,
      context: () => this.expressionContext(),
      beforeEvaluation: () => this.budget.beforeEvaluation(),
      runIteration: (node, context) =>
        runIterationNode(node, context, '', {
          compiler: this.compiler,
          defaults: this.definition.defaults,
          previous: this.args.reuseItems?.[node.id],
          limits: this.args.iterationLimits,
          ...(this.tenantId !== undefined && { tenantId: this.tenantId }),
          depth: this.args.depth ?? 0,
          pause: this.pause,
        }),
      checkActivityConfig: (nodeId, config) => this.budget.checkActivityConfig(nodeId, config),
      runActivity: ({ node, raw, config, templated }) =>
        this.budget.withActivityRoom((room) =>
          runActivityNode(node, config, this.definition.defaults, this.tenantId, room, {
            emptyTemplates: templated ? emptyTemplates(raw, config) : [],
            secretPaths: templated ? secretRefPaths(raw).map((r) => r.path) : [],
            mirror: this.resultTicket(node.id),
          }),
        ),
      runLimitedActivity: ({ node, raw, config, templated }, limits) =>
        this.budget.withActivityRoom((room) =>
          runLimitedActivityNode({
            node, config, defaults: this.definition.defaults, tenantId: this.tenantId, inlineOutputBytes: room, limits,
            emptyTemplates: templated ? emptyTemplates(raw, config) : [],
            secretPaths: templated ? secretRefPaths(raw).map((r) => r.path) : [],
            hooks: {
              waiting: (waitingFor) => this.update(node.id, { status: 'WAITING', waitingFor }),
              running: (attempt) => {
                const state = this.stateOf(node.id);
                if (state.status !== 'RUNNING' || state.attempt !== attempt) this.update(node.id, { status: 'RUNNING', waitingFor: undefined, attempt });
              },
            },
          }),
        ),
      decisions: this.decisions,
      switchDefaults: (nodeId) => this.switchDefaults(nodeId),
      admitInlineOutput: (nodeId, output) => this.budget.admitInlineOutput(nodeId, output),
      admitOutput: (nodeId, output) => this.budget.admitOutput(nodeId, output),
    };
  }

  /** A switch with a `default` edge takes it when its value is null (Conductor's behaviour). */
  private switchDefaults(id: string): boolean {
    return this.planner.hasBranch(id, 'default') && patched(SWITCH_NULL_DEFAULT_PATCH);
  }

  // -- state ------------------------------------------------------------------------------------

  private failureOf(node: NodeDef, err: unknown): Settled {
    if (isCancellation(err)) {
      const failed = this.planner.failedNode;
      const message = this.stop.reason ?? (failed !== undefined ? `cancelled because node "${failed}" failed` : 'cancelled');
      return { status: 'CANCELLED', error: { type: 'Cancelled', message } };
    }
    const failure = describeFailure(err, () => resolveActivityPolicy(node, this.definition.defaults).retry.maximumAttempts);
    return { status: 'FAILED', ...failure };
  }

  /** The planner only names nodes of the definition: a miss is a bug, not a tenant's input. */
  private nodeOf(id: string): NodeDef {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`unknown node "${id}"`);
    return node;
  }

  private stateOf(id: string): NodeState {
    const state = this.states.get(id);
    if (!state) throw new Error(`unknown node "${id}"`);
    return state;
  }

  private update(id: string, patch: Partial<NodeState>, reservedSeq?: number, writtenAhead = false): void {
    const state = this.stateOf(id);
    Object.assign(state, patch);
    this.mirror.node({ nodeId: id, ...state }, reservedSeq, writtenAhead);
  }

  /**
   * Mirrored runs: a seq for the node's result, reserved when it starts, so its activity can
   * write SUCCEEDED to Postgres the moment it returns instead of a workflow task later.
   */
  private reserveResultSeq(id: string): void {
    if (!this.mirror.active || !patched(NODE_RESULT_MIRROR_PATCH)) return;
    const seq = this.mirror.reserve();
    if (seq !== undefined) this.reservedSeqs.set(id, seq);
  }

  private resultTicket(id: string) {
    const seq = this.reservedSeqs.get(id);
    const state = this.stateOf(id);
    return seq === undefined || state.startedAt === undefined ? undefined : this.mirror.ticket(seq, state.type, state.startedAt);
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
    const deferred = deferredActivities();
    for (const [id, state] of this.states) {
      // A node deferred by the fair-share gate waits for its tenant's turn, in the run (no task).
      nodes[id] = state.status === 'RUNNING' && deferred.has(id) ? { ...state, status: 'WAITING', waitingFor: { kind: 'tenantShare', key: this.tenantId ?? '' } } : { ...state };
      if (isTerminal(state.status)) done++;
    }
    return {
      status: this.queued && this.status === 'RUNNING' ? 'QUEUED' : this.status,
      workflowId: this.args.workflowId,
      version: this.version,
      progress: { total: this.states.size, done },
      nodes,
      ...(this.pause.paused && this.status === 'RUNNING' && { paused: true }),
      ...(this.runError && { error: this.runError }),
    };
  }
}

function now(): string {
  return new Date().toISOString();
}
