import { CancellationScope, condition, getExternalWorkflowHandle, patched, setHandler, sleep } from '@temporalio/workflow';
import { RUN_PAUSE_PATCH } from '../contracts/patches';
import { pauseSignal, pauseStateSignal, resumeSignal, type PauseState } from '../contracts/run-pause';

/** Who paused the run and when (workflow time), as the mirror records it. */
export interface PauseRecord {
  at: string;
  by?: string;
}

/** What a run does when its pause changes (a map or loop workflow needs none of it). */
export interface PauseHooks {
  /** The requested pause changed: the run mirrors it (null: resumed). */
  changed(pause: PauseRecord | null): void;
  /** Nodes held while paused may start now. */
  release(held: string[]): void;
  /** True once the run is stopping: a cancel or runTimeout lifts the pause (cleanup runs as for any stop). */
  lifted(): boolean;
}

/** How long a forwarded state waits before it is sent again to a child that did not take it (not started yet). */
const FORWARD_RETRY_MS = 1_000;

/**
 * The pause of one workflow: a run (dagWorkflow, set by the `pause` / `resume` signals) or one
 * of its map and loop workflows (set by the state its parent forwards). While it holds, the
 * workflow starts no new node, map item, batch or loop iteration; what runs goes on, timers and
 * approvals keep waiting. It is workflow state, so it survives worker restarts (replayed from
 * the signals in the history) and continue-as-new (carried in the input).
 *
 * The signal handlers only record. Everything that issues commands (the mirror write, the
 * forwarded signals, holding work) happens elsewhere and asks RUN_PAUSE_PATCH first: a run
 * recorded before pausing existed that got a `pause` signal its worker ignored replays ignoring
 * it. A run never paused never asks, and its commands are exactly what they were.
 */
export class PauseGate {
  private requested: boolean;
  private rev: number;
  private record: PauseRecord | null = null;
  private readonly heldIds: string[] = [];
  /** Map and loop workflows this one started and that have not ended: the rev each has. */
  private readonly children = new Map<string, number>();
  private readonly forwarding = new Set<string>();
  private hooks: Partial<PauseHooks> = {};

  private constructor(initial?: PauseState) {
    this.requested = initial?.paused ?? false;
    this.rev = initial?.rev ?? 0;
  }

  /** The gate of a run: `pause` and `resume` set it, also before the run is loaded. */
  static forRun(): PauseGate {
    const gate = new PauseGate();
    setHandler(pauseSignal, (request) => gate.request(true, request?.by));
    setHandler(resumeSignal, (request) => gate.request(false, request?.by));
    return gate;
  }

  /** The gate of a map or loop workflow: its parent's state at its start, then what its parent forwards. */
  static forChild(initial: PauseState | undefined): PauseGate {
    const gate = new PauseGate(initial);
    setHandler(pauseStateSignal, (state) => gate.receive(state));
    gate.watch(false);
    return gate;
  }

  /** The run acts on its pause from now on (a pause requested while it loaded is acted on at once). */
  attach(hooks: PauseHooks): void {
    this.hooks = hooks;
    this.watch(true);
  }

  /** Whether a pause was requested (what the state query shows; issues no command). */
  get paused(): boolean {
    return this.requested;
  }

  /** Whether new work must wait now. Asks the patch (once a pause holds), so call it only where work would start. */
  get holding(): boolean {
    return this.held && patched(RUN_PAUSE_PATCH);
  }

  /** The nodes that may start now: all of `ready`, or none while paused (they start on resume). */
  admit(ready: string[]): string[] {
    if (ready.length === 0 || !this.holding) return ready;
    this.heldIds.push(...ready);
    return [];
  }

  /**
   * Before an item, a batch or an iteration starts: undefined when it may start now (nothing is
   * awaited then, so a run that is not paused runs exactly as before), else a promise that
   * resolves on resume and rejects when the workflow is cancelled.
   */
  wait(): Promise<void> | undefined {
    if (!this.holding) return undefined;
    return condition(() => !this.held);
  }

  /** The input of a map or loop workflow started now (or continued as new): it starts in this state. */
  childInput<T extends { pause?: PauseState }>(input: T): T {
    return this.rev === 0 ? input : { ...input, pause: { paused: this.held, rev: this.rev } };
  }

  /**
   * A map or loop workflow started with childInput: it gets every later change until it ends.
   * Returns `running` itself (the caller's promise chain is unchanged).
   */
  track<T>(workflowId: string, running: Promise<T>): Promise<T> {
    this.children.set(workflowId, this.rev);
    const ended = () => void this.children.delete(workflowId);
    running.then(ended, ended);
    return running;
  }

  private get held(): boolean {
    return this.requested && !(this.hooks.lifted?.() ?? false);
  }

  private request(paused: boolean, by: string | undefined): void {
    if (paused === this.requested) return;
    this.requested = paused;
    this.record = paused ? { at: new Date().toISOString(), ...(by !== undefined && { by }) } : null;
    this.rev++;
  }

  private receive(state: PauseState): void {
    if (state.rev <= this.rev) return;
    this.requested = state.paused;
    this.rev = state.rev;
  }

  /**
   * Acts on each change after the handler (or the stop) that made it: mirrors it, releases what
   * was held, forwards it to the children. `fromStart`: changes before now count too.
   */
  private watch(fromStart: boolean): void {
    let seenRev = fromStart ? 0 : this.rev;
    let seenHeld = fromStart ? false : this.held;
    let seenRecord: PauseRecord | null = null;
    // Not cancellable: a cancelled workflow must not fail on this loop's condition.
    void CancellationScope.nonCancellable(async () => {
      for (;;) {
        await condition(() => this.rev !== seenRev || this.held !== seenHeld);
        // A stop lifting the pause is news for the children too.
        if (this.rev === seenRev) this.rev++;
        seenRev = this.rev;
        seenHeld = this.held;
        if (!patched(RUN_PAUSE_PATCH)) continue;
        if (this.record !== seenRecord) {
          seenRecord = this.record;
          this.hooks.changed?.(this.record);
        }
        if (!this.held && this.heldIds.length > 0) this.hooks.release?.(this.heldIds.splice(0));
        for (const id of this.children.keys()) void this.forward(id);
      }
    });
  }

  /** Sends the current state to one child until it has it (one signal in flight per child, so they arrive in order). */
  private async forward(workflowId: string): Promise<void> {
    if (this.forwarding.has(workflowId)) return;
    this.forwarding.add(workflowId);
    try {
      await CancellationScope.nonCancellable(async () => {
        while (this.children.has(workflowId) && (this.children.get(workflowId) ?? 0) < this.rev) {
          const state: PauseState = { paused: this.held, rev: this.rev };
          try {
            await getExternalWorkflowHandle(workflowId).signal(pauseStateSignal, state);
            if (this.children.has(workflowId)) this.children.set(workflowId, state.rev);
          } catch {
            // Not started yet (its start is still in flight), or just ended: try again while it runs.
            if (this.children.has(workflowId)) await sleep(FORWARD_RETRY_MS);
          }
        }
      });
    } finally {
      this.forwarding.delete(workflowId);
    }
  }
}
