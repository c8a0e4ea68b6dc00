import type { Db } from '../db/client';
import { TERMINAL_EXECUTION_STATUSES, type ExecutionStatus } from '../domain/status';
import type { ExecutionEventHub } from '../persistence/execution-event-hub';
import { itemCounts, readTransitions, type NodeTransitionEvent, type TransitionsRead } from './execution-stream';
import type { LivePoller, RetryState } from './live-poller';

/**
 * The protocol of GET /executions/:id/events (Server-Sent Events), apart from HTTP: what a
 * stream sends, in which order, and when it ends. The route opens the response and hands it here.
 */

/** Map item counts go out at most this often per node, however fast items finish. */
export const ITEMS_EVENT_INTERVAL_MS = 1_000;

/**
 * Every event a stream sends (the `event:` name and the JSON of its `data:` line). The console
 * parses the stream with this union. Only transitions carry an `id:` (the mirror's sequence
 * number, the resume point); `retry` and `items` are views of the moment and are not replayed.
 */
export type ExecutionStreamEvent =
  | { event: 'snapshot'; id: number; data: { run: TransitionsRead['run']['snapshot']; nodes: NodeTransitionEvent['data'][] } }
  | { event: 'node'; id: number; data: NodeTransitionEvent['data'] }
  | { event: 'run'; id: number; data: TransitionsRead['run']['transition'] }
  | RetryEvent
  | ItemsEvent;
export type TransitionEvent = Extract<ExecutionStreamEvent, { id: number }>;
export interface RetryEvent { event: 'retry'; data: RetryState }
export interface ItemsEvent { event: 'items'; data: { nodeId: string; counts: Awaited<ReturnType<typeof itemCounts>> } }

/** Where a stream writes: the hijacked HTTP response in the route, anything with write/end in a test. */
export interface EventSink {
  write(chunk: string): unknown;
  end(): unknown;
}

export interface StreamLog {
  error(details: object, message: string): void;
}

function isTerminalExecutionStatus(status: ExecutionStatus): boolean {
  return (TERMINAL_EXECUTION_STATUSES as readonly string[]).includes(status);
}

/** Drives one stream; returns a function that ends it (idempotent). The caller ends it when the client goes away. */
export function streamExecution(options: {
  db: Db;
  poller: LivePoller;
  hub: ExecutionEventHub;
  log: StreamLog;
  res: EventSink;
  executionId: string;
  since: number | undefined;
}): () => void {
  const { db, hub, log, res, executionId } = options;
  // The highest seq the client has; undefined until the snapshot (or the resume point) is known.
  let lastSeq = options.since;
  let finished = false;
  let queued = false;
  let chain: Promise<void> = Promise.resolve();

  const itemTimers = new Map<string, NodeJS.Timeout>();
  const end = () => {
    if (finished) return;
    finished = true;
    unsubscribe();
    clearInterval(heartbeat);
    stopRetries();
    for (const timer of itemTimers.values()) clearTimeout(timer);
    res.end();
  };

  // Serialized: each read starts after the previous one wrote its events, so ids only ascend.
  // One queued read is enough however many notifications arrive meanwhile: it reads every row past lastSeq.
  const schedule = (step: () => Promise<void>) => {
    if (queued || finished) return;
    queued = true;
    chain = chain.then(async () => {
      queued = false;
      if (finished) return;
      try {
        await step();
      } catch (err) {
        // The client reconnects with Last-Event-ID and loses nothing; better than a stream that silently stalls.
        log.error({ err, executionId }, 'execution events: reading the mirror failed; closing the stream');
        end();
      }
    });
  };
  const catchUp = () => schedule(() => send(false));

  // Subscribe before the first read, so a write committed in between triggers a read rather than going unseen.
  // Throttled: one `items` event (the node's counts) per node and interval, not one per item.
  const itemsChanged = (nodeId: string) => {
    if (itemTimers.has(nodeId) || finished) return;
    itemTimers.set(
      nodeId,
      setTimeout(() => schedule(() => sendCounts(nodeId)), ITEMS_EVENT_INTERVAL_MS),
    );
  };
  const unsubscribe = hub.subscribe(executionId, (notice) => {
    if (notice.items !== undefined) return itemsChanged(notice.items);
    if (!notice.resync && lastSeq !== undefined && notice.seq <= lastSeq) return; // already sent
    catchUp();
  });
  const heartbeat = setInterval(() => {
    if (!finished) res.write(': ping\n\n');
  }, hub.heartbeatMs);

  // Retries happen inside Temporal, invisible to the mirror until the node settles: the run's
  // shared poll asks Temporal, and this stream sends what changed since it last sent it.
  const retrySent = new Map<string, string>();
  const stopRetries = options.poller.subscribe(executionId, (states) => {
    if (finished) return;
    for (const state of states) {
      const text = JSON.stringify(state);
      if (retrySent.get(state.nodeId) === text) continue;
      retrySent.set(state.nodeId, text);
      res.write(`event: retry\ndata: ${text}\n\n`); // RetryEvent
    }
  });

  async function send(snapshot: boolean): Promise<void> {
    const since = snapshot ? -1 : (lastSeq ?? -1);
    const rows = await readTransitions(db, executionId, since);
    if (finished) return;
    if (!rows) return end(); // the execution was deleted (its workflow was): nothing more will come
    const { run, nodes } = rows;
    if (snapshot) {
      const seq = Math.max(run.seq, ...nodes.map((n) => n.seq));
      write(res, { event: 'snapshot', id: seq, data: { run: run.snapshot, nodes: nodes.map((n) => n.data) } });
      lastSeq = seq;
    } else {
      const events: TransitionEvent[] = nodes.map((n): TransitionEvent => ({ event: 'node', id: n.seq, data: n.data }));
      if (run.seq > since) events.push({ event: 'run', id: run.seq, data: run.transition });
      // Stable sort: at an equal seq the run event stays after the node events of the same batch.
      events.sort((a, b) => a.id - b.id);
      for (const event of events) write(res, event);
      lastSeq = Math.max(since, ...events.map((e) => e.id));
    }
    // The run's terminal write is its last (the workflow flushes the mirror before completing).
    if (isTerminalExecutionStatus(run.status)) end();
  }

  async function sendCounts(nodeId: string): Promise<void> {
    itemTimers.delete(nodeId);
    const counts = await itemCounts(db, executionId, nodeId);
    if (finished) return;
    // No `id:` line: item counts are not a transition, and must not move the client's resume point.
    const items: ItemsEvent['data'] = { nodeId, counts };
    res.write(`event: items\ndata: ${JSON.stringify(items)}\n\n`);
  }

  schedule(() => send(options.since === undefined));
  return end;
}

function write(res: EventSink, event: TransitionEvent): void {
  // JSON.stringify escapes CR and LF, so the payload is always a single `data:` line.
  res.write(`event: ${event.event}\nid: ${event.id}\ndata: ${JSON.stringify(event.data)}\n\n`);
}
