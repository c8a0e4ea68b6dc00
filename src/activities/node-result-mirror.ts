import type { Db } from '../db/client';
import type { NodeActivityInput, NodeActivityResult } from '../contracts/node-activity';
import { nodeResultKey, writeNodeAttempts, writeNodeResults, type NodeAttemptWrite, type NodeResultWrite } from '../mirror';
import { BackgroundWriter, failedAttempt, lateAttempt } from './failed-attempts';

type NodeActivity = (input: NodeActivityInput) => Promise<NodeActivityResult>;

/** How long a node activity waits for its confirmed write before it returns without it (the workflow then writes). */
const CONFIRM_WAIT_MS = 2_000;

interface Waiting {
  write: NodeResultWrite;
  /** Told whether the row was written (confirmed tickets only). */
  done?: (written: boolean) => void;
}

/**
 * Node activities of mirrored runs write their own SUCCEEDED state to Postgres as they return,
 * batched per worker (many runs per statement, one statement in flight). Two kinds of ticket:
 * - `confirm` (runs from issue 26 on): while a statement is out (a busy worker), the activity
 *   waits for the write (durable, at most CONFIRM_WAIT_MS) and says so in its result
 *   (`mirrored`); the workflow then does not write the state again, so a node's result is
 *   written to Postgres once. If the write fails or takes too long, or the worker is idle (a
 *   write alone would add a commit to the run's critical path), the result says nothing and
 *   the workflow writes the state as before.
 * - otherwise (older runs): the write is only there to be first; the workflow's write of the
 *   same state follows one workflow task later. It never delays the node, and a failed write is
 *   dropped.
 * Every failed attempt's error (type, message, time) is written too, in the background
 * (failed-attempts.ts); a dropped one is missing from the node's attempt history (so are
 * attempts whose worker died mid-way: only Temporal saw them fail).
 */
export class NodeResultMirror {
  private readonly results: BackgroundWriter<Waiting>;
  private readonly attempts: BackgroundWriter<NodeAttemptWrite>;

  constructor(db: Db, onError: (err: unknown) => void = () => {}) {
    this.results = new BackgroundWriter(
      (batch) => writeResults(db, batch),
      onError,
      (dropped) => {
        for (const entry of dropped) entry.done?.(false);
      },
    );
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
          if (!input.mirror) return result;
          // Idle (no statement out): a write of its own would put one more commit on this run's
          // critical path, where the workflow's write of the state shares the commit of the next
          // node's RUNNING anyway; so only a write that can share a statement already forming is
          // waited for (issue 26: a lone chain stays as fast as before, concurrent runs write once).
          if (!input.mirror.confirm || !this.results.busy) {
            this.results.add({ write: this.resultWrite(input, result) });
            return result;
          }
          const write = this.resultWrite(input, result);
          return (await this.confirmed(write)) ? { ...result, mirrored: { finishedAt: write.finishedAt! } } : result;
        },
      ]),
    );
  }

  /** Resolves once every row queued so far was written or dropped (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all([this.results.idle(), this.attempts.idle()]);
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

  private confirmed(write: NodeResultWrite): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), CONFIRM_WAIT_MS);
      this.results.add({
        write,
        done: (written) => {
          clearTimeout(timer);
          resolve(written);
        },
      });
    });
  }
}

/** One statement of results; each confirmed entry learns whether its row was written (false when the statement failed). */
async function writeResults(db: Db, batch: Waiting[]): Promise<void> {
  let written = new Set<string>();
  try {
    written = await writeNodeResults(
      db,
      batch.map((entry) => entry.write),
      { durable: batch.some((entry) => entry.done !== undefined) },
    );
  } finally {
    for (const entry of batch) entry.done?.(written.has(nodeResultKey(entry.write.executionId, entry.write.nodeId)));
  }
}
