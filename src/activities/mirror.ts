import type { Db } from '../db/client';
import { recordRun, writeTransitions } from '../mirror';
import type { MirrorActivities, MirrorBatch, RecordRunRequest } from '../contracts/mirror';

/**
 * The workflow's status-mirror activities: thin wrappers over src/mirror, which owns the
 * tables, the ordering rule and the NOTIFY. The names and signatures are part of recorded
 * histories: keep them.
 */
export function createMirrorActivities(db: Db): MirrorActivities {
  return {
    async recordRun(request: RecordRunRequest): Promise<boolean> {
      return recordRun(db, request);
    },

    async mirrorTransitions(batch: MirrorBatch): Promise<void> {
      await writeTransitions(db, batch);
    },
  };
}
