import type { Db } from '../db/client';
import { GroupCommit } from '../db/group-commit';
import { recordRun, writeTransitionBatches } from '../mirror';
import type { MirrorActivities, MirrorBatch, RecordRunRequest } from '../contracts/mirror';

/**
 * The workflow's status-mirror activities: thin wrappers over src/mirror, which owns the
 * tables, the ordering rule and the NOTIFY. The names and signatures are part of recorded
 * histories: keep them.
 *
 * Writes of concurrent runs share statements (group commit): a worker running hundreds of
 * runs would otherwise commit once per workflow task of each. An idle worker sends each write
 * at once; while two statements are out, later writes wait and leave together. A failed shared
 * statement reruns each write alone, so a run's write fails only for its own reason.
 */
export function createMirrorActivities(db: Db): MirrorActivities {
  const writes = new GroupCommit<MirrorBatch, void>(
    async (batches) => {
      await writeTransitionBatches(db, batches);
      return batches.map(() => undefined);
    },
    (batch) => writeTransitionBatches(db, [batch]),
    // A batch is at most 768 KB of states (RunMirror); a statement stays within a few of them.
    { maxItems: 200, sizeOf: (batch) => JSON.stringify(batch).length, maxSize: 4 * 1024 * 1024 },
  );
  return {
    async recordRun(request: RecordRunRequest): Promise<boolean> {
      return recordRun(db, request);
    },

    async mirrorTransitions(batch: MirrorBatch): Promise<void> {
      await writes.submit(batch);
    },
  };
}
