import { patched, type CancellationScope } from '@temporalio/workflow';
import { CANCEL_RUNS_CLEANUP_PATCH } from '../contracts/patches';
import type { DagPlanner, Decision } from '../domain/planner';
import { RUN_TIMEOUT_GRACE_MS } from '../domain/policy';
import type { RunTimer } from './run-timer';

/** How a stopping run stops: see StopRequest.mode. */
export type StopMode = 'cleanup' | 'hard';

/**
 * Whether and how a run was asked to stop. Kept apart from the run's scheduling state because a
 * cancel may arrive before the definition is loaded: the request is recorded then and acted on
 * once the run can act.
 */
export class StopRequest {
  /** Why the run stops; undefined while it is not stopping. */
  reason: string | undefined;
  /**
   * `cleanup` lets cleanup nodes run first, `hard` stops everything at once (force, a second
   * request, or a run recorded before cleanup existed).
   */
  mode: StopMode | undefined;
  timedOut = false;
  /** Cancelled through Temporal (not our signal): the run then ends as a Temporal cancellation. */
  byTemporal = false;

  get stopping(): boolean {
    return this.reason !== undefined;
  }

  /**
   * The first request stops the run like `finally`; `force`, or a second request while cleanup
   * runs, stops it hard. Returns what the run must do now, or undefined for nothing.
   */
  request(reason: string, force: boolean): StopMode | undefined {
    if (this.reason !== undefined) {
      if (this.mode !== 'cleanup') return undefined;
      return (this.mode = 'hard');
    }
    this.reason = reason;
    // The patch marker is written where the first request is handled (replays depend on it).
    return (this.mode = !force && patched(CANCEL_RUNS_CLEANUP_PATCH) ? 'cleanup' : 'hard');
  }
}

/**
 * What stopping needs from a run: the planner's verdicts on which nodes still run, the queue of
 * activity nodes waiting for a slot, the scopes of running nodes, and a way to record a node's
 * end and to act on a decision. Narrow on purpose: the stop rules read as one piece here.
 */
export interface StoppableRun {
  readonly planner: Pick<DagPlanner, 'stop' | 'status' | 'runsWhenStopping' | 'runsInWindDown' | 'cancelPending' | 'settle' | 'isComplete' | 'failedNode'>;
  /** Activity nodes past the concurrency bound, first come first served; edited in place. */
  readonly waitingActivities: string[];
  /** The scope of each running node, in launch order. */
  readonly runningScopes: ReadonlyMap<string, CancellationScope>;
  /** False once the run has its final status: a late request changes nothing. */
  isRunning(): boolean;
  cancelScopes(scopes: Iterable<CancellationScope>): void;
  /** Records that a node that never ran ends now with this status. */
  endNode(id: string, status: 'CANCELLED' | 'SKIPPED'): void;
  apply(decision: Decision): void;
}

/**
 * The stop actions of a run: a cancel (signal or Temporal), runTimeout and its grace, the wind
 * down after a fatal node failure, and the hard stop. StopRequest says how to stop; this acts.
 */
export class RunStopper {
  constructor(
    readonly request: StopRequest,
    private readonly timers: RunTimer,
    private readonly run: StoppableRun,
  ) {}

  /**
   * Starts the run, or stops it at once if a stop was requested before it was loaded, then
   * arms runTimeout (in this order: the timer's command follows the first nodes').
   */
  begin(start: () => void, limitMs: () => number | undefined): void {
    if (!this.request.stopping) start();
    else if (this.request.mode === 'cleanup') this.stopWithCleanup();
    else this.cancelNodes();
    const limit = limitMs();
    if (limit !== undefined && !this.request.stopping) this.timers.after(limit, () => this.timeOut(limit));
  }

  /** The run is over: its runTimeout and grace timers go. */
  disarm(): void {
    this.timers.cancel();
  }

  /** The root scope was cancelled through Temporal (not our signal). */
  cancelledByTemporal(): void {
    this.request.byTemporal = true;
    this.cancel('cancelled through Temporal');
  }

  /** A stop request (signal or Temporal cancellation); StopRequest decides how to stop. */
  cancel(reason: string, force = false): void {
    if (!this.run.isRunning()) return;
    const mode = this.request.request(reason, force);
    if (mode === 'cleanup') this.stopWithCleanup();
    else if (mode === 'hard') this.stopHard();
  }

  /** After a fatal node failure: stop what runs and what waits; cleanup (all_done) nodes still run. */
  windDown(): void {
    const { planner, waitingActivities } = this.run;
    this.run.cancelScopes(this.run.runningScopes.values());
    for (const id of waitingActivities.splice(0)) {
      if (planner.runsInWindDown(id)) {
        waitingActivities.push(id);
      } else {
        this.run.endNode(id, 'SKIPPED');
        this.run.apply(planner.settle(id, { status: 'SKIPPED' }));
      }
    }
  }

  /**
   * Nodes a pause held (they became ready while it held), now that it no longer holds: a node a
   * stop ended meanwhile stays ended, and after a fatal failure only cleanup nodes start, as
   * windDown treats the nodes waiting for a slot.
   */
  releaseHeld(ids: string[]): void {
    const { planner } = this.run;
    const ready: string[] = [];
    for (const id of ids) {
      if (planner.status(id) !== 'PENDING') continue;
      if (planner.failedNode !== undefined && !this.request.stopping && !planner.runsInWindDown(id)) {
        this.run.endNode(id, 'SKIPPED');
        this.run.apply(planner.settle(id, { status: 'SKIPPED' }));
      } else {
        ready.push(id);
      }
    }
    this.run.apply({ ready, skipped: [] });
  }

  /** runTimeout passed: stop like a cancel, give cleanup nodes the grace, then stop hard. */
  private timeOut(limitMs: number): void {
    if (!this.run.isRunning() || this.run.planner.isComplete()) return;
    this.timers.after(RUN_TIMEOUT_GRACE_MS, () => this.stopHard());
    if (this.request.stopping) return; // already stopping; the grace bounds its cleanup too
    this.request.timedOut = true;
    this.request.reason = `run timed out after ${limitMs} ms (runTimeout)`;
    this.stopWithCleanup();
  }

  private stopWithCleanup(): void {
    this.request.mode = 'cleanup';
    const { planner, waitingActivities } = this.run;
    const { cancelled, decision } = planner.stop();
    for (const id of cancelled) this.run.endNode(id, 'CANCELLED');
    const held = waitingActivities.splice(0);
    waitingActivities.push(...held.filter((id) => planner.status(id) === 'PENDING'));
    this.run.cancelScopes([...this.run.runningScopes].filter(([id]) => !planner.runsWhenStopping(id)).map(([, scope]) => scope));
    this.run.apply(decision);
  }

  private stopHard(): void {
    this.request.mode = 'hard';
    this.cancelNodes();
  }

  /** Cancels what runs; nodes that never started end CANCELLED at once. */
  private cancelNodes(): void {
    this.run.waitingActivities.length = 0;
    this.run.cancelScopes(this.run.runningScopes.values());
    for (const id of this.run.planner.cancelPending()) this.run.endNode(id, 'CANCELLED');
  }
}
