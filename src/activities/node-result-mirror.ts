import type { Db } from '../db/client';
import type { NodeActivityInput, NodeActivityResult } from '../contracts/node-activity';
import { writeNodeAttempts, writeNodeResults, type NodeAttemptWrite, type NodeResultWrite } from '../mirror';
import { BackgroundWriter, failedAttempt, lateAttempt } from './failed-attempts';

type NodeActivity = (input: NodeActivityInput) => Promise<NodeActivityResult>;

/**
 * A worker writes results ahead only while node results of at most this many runs reached it
 * within AHEAD_WINDOW_MS: someone watching a run sees its node finish a workflow task sooner,
 * but each such write is a commit of its own (issue 26).
 */
const AHEAD_MAX_RUNS = 4;
const AHEAD_WINDOW_MS = 1_000;

/**
 * Node activities of mirrored runs may write their own SUCCEEDED state to Postgres as they
 * return (batched per worker: many runs per statement, one statement in flight), ahead of the
 * workflow's write of the same state one workflow task later. The workflow's write is the
 * durable one, and the only one the state needs: it shares the statement (and the commit) of
 * whatever the workflow writes next, in a chain the next node's RUNNING. The write ahead buys lag, at the price of one
 * more commit per node, so it is made only while the worker serves few runs (AHEAD_MAX_RUNS):
 * a lone run is watched closely and costs little; under concurrency (issue 26: 200 runs) the
 * commits are what limits the platform, and the workflow's write alone makes ~1 commit per node
 * instead of ~2. It never delays the node, commits without waiting for the WAL flush (the
 * workflow's write is the durable one), and a failed write is dropped.
 *
 * A ticket's `confirm` (runs recorded between issue 26's first and second pass asked the
 * activity to commit durably and say `mirrored`, so the workflow skipped its own write) is no
 * longer honoured: in a chain that write was a commit the workflow's write of the next RUNNING
 * would have shared. The result then simply says nothing and the workflow writes the state, as
 * it does for any result not `mirrored`; replay reads the recorded results, so no patch.
 *
 * Every failed attempt's error (type, message, time) is written too, in the background
 * (failed-attempts.ts); a dropped one is missing from the node's attempt history (so are
 * attempts whose worker died mid-way: only Temporal saw them fail).
 */
export class NodeResultMirror {
  private readonly results: BackgroundWriter<NodeResultWrite>;
  private readonly attempts: BackgroundWriter<NodeAttemptWrite>;
  /** When a result of each recently seen run reached this worker (pruned past AHEAD_WINDOW_MS). */
  private readonly recentRuns = new Map<string, number>();

  constructor(db: Db, onError: (err: unknown) => void = () => {}) {
    this.results = new BackgroundWriter(async (batch) => void (await writeNodeResults(db, batch)), onError);
    this.attempts = new BackgroundWriter((batch) => writeNodeAttempts(db, batch), onError);
  }

  /** Wraps every node activity so that a successful result with a mirror ticket, and every failed attempt, is written. */
  wrap(activities: Record<string, NodeActivity>): Record<string, NodeActivity> {
    return Object.fromEntries(
      Object.entries(activities).map(([type, activity]) => [
        type,
        async (input: NodeActivityInput) => {
          const startedAt = Date.now();
          let returned: NodeActivityResult;
          try {
            returned = await activity(input);
          } catch (err) {
            const attempt = failedAttempt(input, err, startedAt);
            if (attempt) this.attempts.add(attempt);
            throw err;
          }
          // Sent back to its run by the fair-share gate: the node did not run, nothing to write.
          if (returned.deferred === true) return returned;
          // Only this wrapper may say a result is mirrored: a node type's own `mirrored` is dropped.
          const { mirrored: _claimed, ...result } = returned;
          // Past its startToClose Temporal has already failed this attempt and ignores the result.
          const late = lateAttempt(input, startedAt);
          if (late) {
            this.attempts.add(late);
            return result;
          }
          if (input.mirror && this.fewRuns(input.executionId)) this.results.add(this.resultWrite(input, result));
          return result;
        },
      ]),
    );
  }

  /** Resolves once every row queued so far was written or dropped (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all([this.results.idle(), this.attempts.idle()]);
  }

  /** Whether this worker serves few enough runs to write results ahead (counting `executionId`'s). */
  private fewRuns(executionId: string): boolean {
    const now = Date.now();
    this.recentRuns.set(executionId, now);
    if (this.recentRuns.size <= AHEAD_MAX_RUNS) return true;
    for (const [id, seen] of this.recentRuns) if (now - seen > AHEAD_WINDOW_MS) this.recentRuns.delete(id);
    return this.recentRuns.size <= AHEAD_MAX_RUNS;
  }

  private resultWrite(input: NodeActivityInput, result: NodeActivityResult): NodeResultWrite {
    const ticket = input.mirror!;
    return {
      executionId: input.executionId,
      nodeId: input.nodeId,
      type: ticket.type,
      status: 'SUCCEEDED',
      attempt: result.attempt,
      output: result.output,
      startedAt: ticket.startedAt,
      finishedAt: new Date().toISOString(),
      seq: ticket.seq,
    };
  }
}
