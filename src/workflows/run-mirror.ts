import { CancellationScope, condition, proxyActivities } from '@temporalio/workflow';
import { jsonBytes } from '../domain/run-limits';
import type { MirrorActivities, NodeTransition, RecordRunRequest, RunTransition } from './mirror-contract';

const mirror = proxyActivities<MirrorActivities>({
  // Short: a write caught by a worker crash is retried after this long, and the run waits on it.
  startToCloseTimeout: '10s',
  // Postgres may be down for a while; the mirror waits for it rather than losing a write.
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '15s' }, // no maximumAttempts: unlimited
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
  private enabled = true;

  constructor(private readonly executionId: string) {}

  /** Starts recording the run; transitions queue until the execution row exists. */
  start(request: RecordRunRequest): void {
    this.recorded = CancellationScope.nonCancellable(() => mirror.recordRun(request));
    this.kick();
  }

  node(transition: Omit<NodeTransition, 'seq'>): void {
    if (!this.enabled) return;
    this.pendingNodes.set(transition.nodeId, { ...transition, seq: ++this.seq });
    this.kick();
  }

  run(transition: Omit<RunTransition, 'seq'>): void {
    if (!this.enabled) return;
    this.pendingRun = { ...transition, seq: ++this.seq };
    this.kick();
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
      this.enabled = await this.recorded!;
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
        await CancellationScope.nonCancellable(() => mirror.mirrorTransitions({ executionId: this.executionId, nodes, run }));
      }
    } finally {
      this.flushing = false;
    }
  }
}
