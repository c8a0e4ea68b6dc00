import { defineSignal } from '@temporalio/workflow';

/** `pause` / `resume` on a run (dagWorkflow): who asked, as the API recorded it. */
export interface PauseRequest {
  by?: string;
}

/**
 * A workflow's pause as its parent forwards it to the map and loop workflows it started (and
 * as it passes it in their input when it starts one while paused). `rev` only grows along a run:
 * a forwarded state older than the one a child has is ignored, so states that cross in flight
 * never leave a child paused after a resume.
 */
export interface PauseState {
  paused: boolean;
  rev: number;
}

/** Stop starting nodes (and map items, loop iterations); what runs finishes. */
export const pauseSignal = defineSignal<[PauseRequest?]>('pause');
/** Go on starting them. */
export const resumeSignal = defineSignal<[PauseRequest?]>('resume');
/** Internal: a parent's pause, forwarded to its map and loop workflows. */
export const pauseStateSignal = defineSignal<[PauseState]>('trellis-pause-state');
