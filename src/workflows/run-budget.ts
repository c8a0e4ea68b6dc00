import { ApplicationFailure, patched, sleep, workflowInfo } from '@temporalio/workflow';
import { RUN_LIMITS, jsonBytes } from '../domain/run-limits';
import type { ExpressionCompiler } from '../domain/expressions';
import { SPLIT_EXPRESSION_WORK_PATCH } from '../contracts/patches';

/** Outputs up to this size always stay inline, even once the budget is spent. */
const MIN_ROOM = 256;

/**
 * Keeps one run inside RUN_LIMITS: the bytes of node outputs it holds, the size of what it
 * schedules, and the expression work done in one workflow task. Deterministic: every figure is
 * counted from the run's own events, so a replay reaches the same verdicts.
 */
export class RunBudget {
  private heldBytes = 0;
  /** Room promised to activities in flight, so parallel results cannot jointly overrun the budget. */
  private reservedBytes = 0;
  private taskMarker = -1;
  private stepsAtTaskStart = 0;

  constructor(private readonly compiler: ExpressionCompiler) {}

  /**
   * Runs an activity node with the bytes it may return inline; it stores a larger output by
   * reference. Tiny outputs always fit (MIN_ROOM), which bounds any overrun by concurrency × MIN_ROOM.
   */
  async withActivityRoom<T extends { output?: unknown }>(run: (room: number) => Promise<T>): Promise<T> {
    const free = RUN_LIMITS.runOutputBytes - this.heldBytes - this.reservedBytes;
    const room = Math.max(MIN_ROOM, Math.min(RUN_LIMITS.inlineOutputBytes, free));
    this.reservedBytes += room;
    try {
      const settled = await run(room);
      this.heldBytes += jsonBytes(settled.output);
      return settled;
    } finally {
      this.reservedBytes -= room;
    }
  }

  /** withActivityRoom without an async frame of its own (see scheduleActivityNode). */
  reserveActivityRoom<T extends { output?: unknown }>(run: (room: number) => Promise<T>): Promise<T> {
    const free = RUN_LIMITS.runOutputBytes - this.heldBytes - this.reservedBytes;
    const room = Math.max(MIN_ROOM, Math.min(RUN_LIMITS.inlineOutputBytes, free));
    this.reservedBytes += room;
    let running: Promise<T>;
    try {
      running = run(room);
    } catch (err) {
      this.reservedBytes -= room;
      return Promise.reject(err);
    }
    return running.then(
      (settled) => {
        this.heldBytes += jsonBytes(settled.output);
        this.reservedBytes -= room;
        return settled;
      },
      (err: unknown) => {
        this.reservedBytes -= room;
        throw err;
      },
    );
  }

  /** Counts outputs the run keeps without running anything (retry from failure reuses them). */
  count(output: unknown): void {
    this.heldBytes += jsonBytes(output);
  }

  /** Before an evaluation: waits for a fresh workflow task once this one has done its share. */
  async beforeEvaluation(): Promise<void> {
    this.syncTask();
    while (this.compiler.stepsUsed - this.stepsAtTaskStart > RUN_LIMITS.stepsPerWorkflowTask && patched(SPLIT_EXPRESSION_WORK_PATCH)) {
      await sleep(1);
      this.syncTask();
    }
  }

  /** Checks an in-workflow node's output before the run keeps it. */
  admitInlineOutput(nodeId: string, output: unknown): void {
    const bytes = jsonBytes(output);
    if (bytes > RUN_LIMITS.inlineOutputBytes) {
      throw ApplicationFailure.nonRetryable(
        `node "${nodeId}" produced ${bytes} bytes of output; an in-workflow node may produce at most ${RUN_LIMITS.inlineOutputBytes}`,
        'OutputLimitExceeded',
        { limit: 'inlineOutputBytes', bytes },
      );
    }
    this.admit(nodeId, bytes);
  }

  /** Checks an output that arrived whole (a child run's outputs, approval data) before the run keeps it. */
  admitOutput(nodeId: string, output: unknown): void {
    this.admit(nodeId, jsonBytes(output));
  }

  /** Checks a resolved activity config before it is scheduled. */
  checkActivityConfig(nodeId: string, config: unknown): void {
    const bytes = jsonBytes(config);
    if (bytes > RUN_LIMITS.activityConfigBytes) {
      throw ApplicationFailure.nonRetryable(
        `node "${nodeId}" config resolves to ${bytes} bytes; the limit is ${RUN_LIMITS.activityConfigBytes} (pass large data by reference: a node output, not a copy of it)`,
        'ConfigTooLarge',
        { limit: 'activityConfigBytes', bytes },
      );
    }
  }

  private admit(nodeId: string, bytes: number): void {
    if (this.heldBytes + bytes > RUN_LIMITS.runOutputBytes) {
      throw ApplicationFailure.nonRetryable(
        `node "${nodeId}" output (${bytes} bytes) would take the run past its ${RUN_LIMITS.runOutputBytes}-byte budget of inline outputs`,
        'PayloadBudgetExceeded',
        { limit: 'runOutputBytes', bytes, held: this.heldBytes },
      );
    }
    this.heldBytes += bytes;
  }

  private syncTask(): void {
    const marker = workflowInfo().historyLength;
    if (marker !== this.taskMarker) {
      this.taskMarker = marker;
      this.stepsAtTaskStart = this.compiler.stepsUsed;
    }
  }
}
