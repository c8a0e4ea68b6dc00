import type { MirrorBatch, RecordRunRequest } from './transitions';

// The write shapes live in transitions.ts, shared with the mirror that applies them.
export type { MirrorBatch, NodeTransition, RecordRunRequest, RunTransition } from './transitions';

export interface MirrorActivities {
  /** Makes sure the execution row exists (runs started outside the API too); false when the workflow is not stored. */
  recordRun(request: RecordRunRequest): Promise<boolean>;
  mirrorTransitions(batch: MirrorBatch): Promise<void>;
}
