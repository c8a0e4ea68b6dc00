import type { Db } from '../db/client';
import type { NodeActivityInput, NodeActivityResult } from '../contracts/node-activity';
import { writeNodeResults, type NodeResultWrite } from '../mirror';

type NodeActivity = (input: NodeActivityInput) => Promise<NodeActivityResult>;

/** Results written per statement, and results kept waiting at most (older ones are dropped: the workflow writes them too). */
const MAX_BATCH = 200;
const MAX_WAITING = 2_000;

/**
 * Node activities of mirrored runs write their own SUCCEEDED state to Postgres as they return:
 * the workflow's write of the same state (same reserved seq) follows one workflow task later, so
 * this one is only there to be first. It never delays or fails the node: results queue here and
 * go out in the background, many per statement, one statement in flight per worker; a failed
 * write (Postgres down) is dropped, and the workflow's write, which waits for Postgres, carries
 * the state instead.
 */
export class NodeResultMirror {
  private readonly waiting: NodeResultWrite[] = [];
  private flushing: Promise<void> | undefined;
  private lastReport = -Infinity;

  constructor(
    private readonly db: Db,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** Wraps every node activity so that a successful result with a mirror ticket is written. */
  wrap(activities: Record<string, NodeActivity>): Record<string, NodeActivity> {
    return Object.fromEntries(
      Object.entries(activities).map(([type, activity]) => [
        type,
        async (input: NodeActivityInput) => {
          const result = await activity(input);
          if (input.mirror) this.add(input, result);
          return result;
        },
      ]),
    );
  }

  /** Resolves once every result queued so far was written or dropped (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private add(input: NodeActivityInput, result: NodeActivityResult): void {
    const ticket = input.mirror!;
    this.waiting.push({
      executionId: input.executionId,
      nodeId: input.nodeId,
      type: ticket.type,
      status: 'SUCCEEDED',
      attempt: result.attempt,
      output: result.output,
      startedAt: ticket.startedAt,
      finishedAt: new Date().toISOString(),
      seq: ticket.seq,
    });
    if (this.waiting.length > MAX_WAITING) this.waiting.splice(0, this.waiting.length - MAX_WAITING);
    this.kick();
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      if (this.waiting.length > 0) this.kick(); // queued after the loop's last look
    });
  }

  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      try {
        await writeNodeResults(this.db, batch);
      } catch (err) {
        // Reported at most once a minute: while Postgres is down every write fails, and that is expected.
        if (Date.now() - this.lastReport >= 60_000) {
          this.lastReport = Date.now();
          this.onError(err);
        }
      }
    }
  }
}
