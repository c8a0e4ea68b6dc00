import { CancellationScope, condition, patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { NodeMirrorTicket } from '../contracts/node-activity';
import { jsonBytes } from '../domain/run-limits';
import { isTerminalExecution } from '../domain/status';
import type { MirrorActivities, NodeTransition, RecordRunRequest, RunTransition } from '../contracts/mirror';
import { CONFIRMED_RESULTS_PATCH, LOCAL_MIRROR_PATCH } from '../contracts/patches';

const mirror = proxyActivities<MirrorActivities>({
  // Short: a write caught by a worker crash is retried after this long, and the run waits on it.
  startToCloseTimeout: '10s',
  // Postgres may be down for a while; the mirror waits for it rather than losing a write.
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '15s' }, // no maximumAttempts: unlimited
});

/**
 * Mirror writes as local activities: they run in the worker inside the workflow task that
 * produced them, with no task-queue round trip. A mirror write then costs one marker event
 * instead of an activity's three plus a workflow task's three, lands right after the
 * transition instead of two round trips later, and does not crowd the Web UI with activities.
 */
const localMirror = proxyLocalActivities<MirrorActivities>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '15s' }, // unlimited, as above
  // Every retry waits on a durable timer, never inside the workflow task: while Postgres is down
  // a failing write must not hold the workflow task open, and the DAG with it.
  localRetryThreshold: 1,
  summary: 'status mirror',
});
const MAX_BATCH = 200;
/**
 * Bytes of node and run states one write may carry: far below Temporal's 2 MB payload limit, so
 * a run that holds its full output budget is written in several activities rather than failing
 * its workflow task on an oversized one. Runs below it batch exactly as before.
 */
const MAX_BATCH_BYTES = 768 * 1024;

/**
 * Writes node and run transitions to Postgres beside the DAG: the interpreter never waits for a
 * write except once, before the run completes. Pending states of one node coalesce into the
 * newest, and one batch is in flight at a time.
 */
export class RunMirror {
  private seq = 0;
  private readonly pendingNodes = new Map<string, NodeTransition>();
  private pendingRun?: RunTransition;
  private recorded?: Promise<boolean>;
  private flushing = false;
  /** Set when recordRun has resolved: only that first resolution is a local-activity result to order. */
  private recordSettled = false;
  private enabled = true;
  /** The status of the last run transition given (a pause write repeats it). */
  private lastStatus?: RunTransition['status'];
  private activities: MirrorActivities = mirror;
  /** Whether node activities confirm their result writes (decided at the first reserve()). */
  private confirmResults?: boolean;

  constructor(private readonly executionId: string) {}

  /**
   * Starts recording the run; transitions queue until the execution row exists. `localWrites`
   * is false for runs with other local activities beside the mirror (runsLocalActivitiesBesideMirror): the mirror's one-batch-in-flight loop then
   * waits on history events only, never on the relative timing of concurrent local activities.
   */
  start(request: RecordRunRequest, localWrites = true): void {
    if (localWrites && patched(LOCAL_MIRROR_PATCH)) this.activities = localMirror;
    const activities = this.activities;
    this.recorded = CancellationScope.nonCancellable(() => activities.recordRun(request));
    this.recorded.then(
      () => (this.recordSettled = true),
      () => undefined,
    );
    this.kick();
  }

  /**
   * `reserved`: a seq taken with reserve() for this transition (a node activity may have written
   * it with that seq already). Used only while it is still the newest seq of the run, so every
   * write a live reader may have seen is older: otherwise the transition gets a new seq as usual.
   */
  node(transition: Omit<NodeTransition, 'seq'>, reserved?: number, writtenAhead = false): void {
    if (!this.enabled) return;
    const seq = reserved !== undefined && reserved === this.seq ? reserved : ++this.seq;
    if (writtenAhead && seq === reserved) {
      // The node's activity committed this very state with this seq before it returned (a
      // confirmed ticket): the row is there, and any older pending state of the node is stale.
      this.pendingNodes.delete(transition.nodeId);
      return;
    }
    this.pendingNodes.set(transition.nodeId, { ...transition, seq });
    this.kick();
  }

  /** Whether this run is being mirrored (as far as the workflow knows yet). */
  get active(): boolean {
    return this.recorded !== undefined && this.enabled;
  }

  /**
   * A seq for a write someone else makes first (a node activity writing its own result), or undefined.
   * Only while the mirror writes as local activities: those finish inside the workflow task, so
   * every older transition is in Postgres before the task's activities are even dispatched, and
   * a node's early write never lands ahead of an older transition a live stream has yet to see
   * (the stream resumes from the highest seq it sent). A regular-activity mirror (runs with
   * local nodes) gives no such order, so its nodes get no seq to write with.
   */
  reserve(): number | undefined {
    if (!this.recorded || !this.enabled || this.activities !== localMirror) return undefined;
    this.confirmResults ??= patched(CONFIRMED_RESULTS_PATCH);
    return ++this.seq;
  }

  /**
   * What a node activity gets to write its result with. In runs with the patch it asks the
   * activity to confirm its write (one durable write per node result instead of two: the
   * workflow skips its own when the result says `mirrored`, see node()).
   */
  ticket(seq: number, type: string, startedAt: string): NodeMirrorTicket {
    return { seq, type, startedAt, ...(this.confirmResults === true && { confirm: true as const }) };
  }

  run(transition: Omit<RunTransition, 'seq'>): void {
    // After the final status nothing may overwrite it (a late pause write, say).
    if (!this.enabled || (this.lastStatus !== undefined && isTerminalExecution(this.lastStatus))) return;
    this.lastStatus = transition.status;
    this.pendingRun = { ...transition, seq: ++this.seq };
    this.kick();
  }

  /** A pause (or, null, a resume) of the run: its status stays what it was. */
  pause(pause: RunTransition['pause']): void {
    this.run({ status: this.lastStatus ?? 'RUNNING', pause });
  }

  /** Waits until every queued transition is in Postgres (or mirroring turned out to be off). */
  async drain(): Promise<void> {
    if (!this.recorded) return;
    await condition(() => !this.flushing && (!this.enabled || (this.pendingNodes.size === 0 && !this.pendingRun)));
  }

  private kick(): void {
    if (this.flushing || !this.recorded) return;
    if (this.pendingNodes.size === 0 && !this.pendingRun) return;
    this.flushing = true;
    void this.flush();
  }

  private async flush(): Promise<void> {
    try {
      const awaitingRecord = !this.recordSettled;
      this.enabled = await this.recorded!;
      if (awaitingRecord) await this.afterLocalResult();
      while (this.enabled && (this.pendingNodes.size > 0 || this.pendingRun)) {
        const nodes: NodeTransition[] = [];
        let bytes = 0;
        for (const n of this.pendingNodes.values()) {
          const size = jsonBytes(n);
          if (nodes.length >= MAX_BATCH || (nodes.length > 0 && bytes + size > MAX_BATCH_BYTES)) break;
          nodes.push(n);
          bytes += size;
        }
        for (const n of nodes) this.pendingNodes.delete(n.nodeId);
        // The run's own row goes last, after every node state it summarizes (alone when the batch is full).
        const fits = nodes.length === 0 || (this.pendingRun !== undefined && bytes + jsonBytes(this.pendingRun) <= MAX_BATCH_BYTES);
        const run = this.pendingNodes.size === 0 && fits ? this.pendingRun : undefined;
        if (run) this.pendingRun = undefined;
        await CancellationScope.nonCancellable(() => this.activities.mirrorTransitions({ executionId: this.executionId, nodes, run }));
        await this.afterLocalResult();
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * After a local mirror write resolves, the next batch is taken only once the rest of the
   * activation has been applied. Where a local activity's result falls among the other jobs of
   * an activation differs between a live run and its replay: live, a write's result arrives
   * after the cancellations its workflow task requested (they resolve at once) and after events
   * delivered while a saturated worker heartbeated the task; on replay, Temporal's core hands
   * it over first, in the same activation. Taking the batch at once made its contents (and so
   * the number of writes) depend on that order, and four recorded runs failed to replay
   * (../shared/histories/nondeterministic). Taken at the end of the activation, a batch holds
   * every transition of the activation in either case. Regular-activity mirrors (runs with
   * local nodes, and runs recorded before local writes) get their results from history in a
   * fixed order and keep taking the batch at once. No command changes for any recorded run
   * (all of them replay), so this needs no patch: a patch would send those four back to the
   * order that fails.
   */
  private async afterLocalResult(): Promise<void> {
    if (this.activities !== localMirror) return;
    await CancellationScope.nonCancellable(() => endOfActivation());
  }
}

/**
 * Resolves once the jobs of the current activation, and the work they unblocked, have run:
 * `condition` evaluates its predicate eagerly (false here) and then once more after the
 * activation's jobs and microtasks have settled.
 */
function endOfActivation(): Promise<void> {
  let checked = false;
  return condition(() => {
    const settled = checked;
    checked = true;
    return settled;
  });
}
