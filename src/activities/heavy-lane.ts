import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * One lane per process for the synchronous work on large node outputs (decoding and parsing a
 * response body, redacting and measuring an output). Every activity of every tenant shares this
 * worker's event loop: eight 16 MiB outputs parsed, redacted and stringified back to back stalled
 * it for over two seconds, long enough for another tenant's node to miss its heartbeat and be
 * sent again. Steps here run one at a time with a turn of the event loop between any two, so
 * timers (heartbeats) and I/O run between them and the longest stall is one step, not their sum.
 */

/** Outputs at least this large go through the lane; smaller ones are cheap enough inline. */
export const HEAVY_OUTPUT_BYTES = 256 * 1024;

let tail: Promise<void> = Promise.resolve();

/** Runs `step` after every step queued before it, after a turn of the event loop. */
export function runHeavy<T>(step: () => T): Promise<T> {
  const result = tail.then(() => nextTurn()).then(step);
  tail = result.then(
    () => undefined,
    () => undefined,
  );
  return result;
}

/**
 * setImmediate: an immediate queued from inside another one runs in the next loop iteration, so
 * the timers and poll phases (heartbeats, sockets) run between two queued steps.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

const heldByActivity = new AsyncLocalStorage<(() => void)[]>();

/**
 * Runs an activity's work; whatever `holdUntilActivityEnds` was given inside is released when it
 * ends. A large response's share of the worker's byte budget is held this way until its output
 * is stored, not only until it is parsed: the copies made after (redaction, JSON text) are as
 * large as the body, and released early eight of them were in memory at once.
 */
export async function withActivityHolds<T>(work: () => Promise<T>): Promise<T> {
  const held: (() => void)[] = [];
  try {
    return await heldByActivity.run(held, work);
  } finally {
    for (const release of held) release();
  }
}

/** Keeps `release` until the enclosing activity ends; outside of one, releases at once. */
export function holdUntilActivityEnds(release: () => void): void {
  const held = heldByActivity.getStore();
  if (held) held.push(release);
  else release();
}
