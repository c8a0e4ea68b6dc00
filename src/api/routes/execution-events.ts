import type { ServerResponse } from 'node:http';
import { Type } from '@sinclair/typebox';
import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Db } from '../../db/client';
import type { AppDeps } from '../deps';
import { ApiError } from '../errors';
import { findExecution } from '../../services/execution-view';
import type { ExecutionEventHub } from '../../persistence/execution-event-hub';
import { itemCounts, readTransitions } from '../../services/execution-stream';
import { ExecutionIdParams, errorResponses } from './execution-schemas';
import { LivePoller } from '../../services/live-poller';
import { OpenStreams } from '../../services/quotas';

// Sequence numbers are small integers; the bound keeps parseInt exact and rejects junk early.
const SEQ = Type.String({ pattern: '^[0-9]{1,15}$' });

const EventsQuery = Type.Object({
  lastEventId: Type.Optional({ ...SEQ, description: 'Same as the Last-Event-ID header (which wins when both are given)' }),
});
const EventsHeaders = Type.Object({
  'last-event-id': Type.Optional({ ...SEQ, description: 'Resume after this event id: no snapshot, only newer transitions' }),
});

/** Map item counts go out at most this often per node, however fast items finish. */
export const ITEMS_EVENT_INTERVAL_MS = 1_000;

interface SseEvent {
  event: 'snapshot' | 'node' | 'run';
  id: number;
  data: unknown;
}

export { RETRY_POLL_MS } from '../../services/live-poller';

/**
 * GET /executions/:id/events: the run's transitions as Server-Sent Events, pushed by the mirror's
 * NOTIFY (through the process-wide ExecutionEventHub) and read back from the mirror rows, so the
 * stream carries exactly what GET /executions/:id would show, in sequence order.
 */
export const executionEventRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  // Open streams never finish by themselves; app.close() would wait on them forever.
  const open = new Set<() => void>();
  // Per process, like the streams: one Temporal poll per run, and each tenant's STREAMS counted here.
  const poller = new LivePoller(deps.temporal);
  const streams = new OpenStreams(deps.db);
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });

  app.get(
    '/executions/:id/events',
    {
      schema: {
        operationId: 'streamExecutionEvents',
        tags: ['executions'],
        summary: 'Stream node and run transitions (Server-Sent Events)',
        description:
          'A `snapshot` event (run and node rows), then `node` and `run` events as the mirror records them; ' +
          'each event id is the mirror sequence number. With Last-Event-ID (header or `lastEventId`) the snapshot ' +
          'is skipped and only newer transitions are sent. `: ping` comments keep the connection alive. ' +
          'A waiting approval node\'s `node` event carries `approval: { message, deadline, onTimeout }` (the message rendered). ' +
          'While a node is being retried, `retry` events (no id; not replayed on resume) carry ' +
          "Temporal's view of it: `{ nodeId, state, attempt, maximumAttempts, lastFailure, nextAttemptAt }`. " +
          'The stream ends after the run reaches a terminal status. A tenant holds at most its STREAMS quota of open ' +
          'streams on each API process; past it the answer is 429 QUOTA_EXCEEDED before the stream opens.',
        params: ExecutionIdParams,
        querystring: EventsQuery,
        headers: EventsHeaders,
        response: {
          // Per content type, so OpenAPI shows the stream as text/event-stream and the errors as JSON.
          200: { description: 'the event stream', content: { 'text/event-stream': { schema: Type.String() } } },
          ...errorResponses(400, 401, 404, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const hub = deps.events;
      if (!hub) throw new ApiError(503, 'EVENTS_UNAVAILABLE', 'live execution events are not enabled on this server');
      // Tenant check (404 for another tenant's run) before anything is streamed.
      const execution = await findExecution(deps.db, request.tenantId, request.params.id);
      const resumeFrom = request.headers['last-event-id'] ?? request.query.lastEventId;
      const since = resumeFrom === undefined ? undefined : Number(resumeFrom); // the schema allows digits only
      // Counted before the stream opens, so a refusal is an ordinary 429 QUOTA_EXCEEDED answer.
      const release = await streams.acquire(request.tenantId);
      // Whatever ends the response (the run, the client, app.close(), a failed write) gives the place back.
      reply.raw.once('close', release);

      reply.hijack();
      // Hijacked replies skip onSend hooks: carry over the headers other plugins set (request id, rate limit).
      for (const [name, value] of Object.entries(reply.getHeaders())) {
        if (value !== undefined) reply.raw.setHeader(name, value);
      }
      reply.raw.writeHead(200, {
        'x-request-id': request.id,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no', // nginx would otherwise buffer the stream
      });
      reply.raw.flushHeaders();
      const end = streamExecution({ db: deps.db, poller, hub, log: request.log, res: reply.raw, executionId: execution.id, since });
      open.add(end);
      reply.raw.once('close', () => open.delete(end));
    },
  );
};

/** Drives one stream; returns a function that ends it (idempotent). */
function streamExecution(options: {
  db: Db;
  poller: LivePoller;
  hub: ExecutionEventHub;
  log: FastifyBaseLogger;
  res: ServerResponse;
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
  res.once('close', end); // client went away (or we ended): drop the subscription and the timer

  // Retries happen inside Temporal, invisible to the mirror until the node settles: the run's
  // shared poll asks Temporal, and this stream sends what changed since it last sent it.
  const retrySent = new Map<string, string>();
  const stopRetries = options.poller.subscribe(executionId, (states) => {
    if (finished) return;
    for (const state of states) {
      const text = JSON.stringify(state);
      if (retrySent.get(state.nodeId) === text) continue;
      retrySent.set(state.nodeId, text);
      res.write(`event: retry\ndata: ${text}\n\n`);
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
      const events: SseEvent[] = nodes.map((n) => ({ event: 'node', id: n.seq, data: n.data }));
      if (run.seq > since) events.push({ event: 'run', id: run.seq, data: run.transition });
      // Stable sort: at an equal seq the run event stays after the node events of the same batch.
      events.sort((a, b) => a.id - b.id);
      for (const event of events) write(res, event);
      lastSeq = Math.max(since, ...events.map((e) => e.id));
    }
    // The run's terminal write is its last (the workflow flushes the mirror before completing).
    if (run.status !== 'RUNNING') end();
  }

  async function sendCounts(nodeId: string): Promise<void> {
    itemTimers.delete(nodeId);
    const counts = await itemCounts(db, executionId, nodeId);
    if (finished) return;
    // No `id:` line: item counts are not a transition, and must not move the client's resume point.
    res.write(`event: items\ndata: ${JSON.stringify({ nodeId, counts })}\n\n`);
  }

  schedule(() => send(options.since === undefined));
  return end;
}

function write(res: ServerResponse, event: SseEvent): void {
  // JSON.stringify escapes CR and LF, so the payload is always a single `data:` line.
  res.write(`event: ${event.event}\nid: ${event.id}\ndata: ${JSON.stringify(event.data)}\n\n`);
}
