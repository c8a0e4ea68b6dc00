import { patched } from '@temporalio/workflow';
import { CANCEL_RUNS_CLEANUP_PATCH } from '../contracts/patches';

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
