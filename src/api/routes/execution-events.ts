import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../deps';
import { ApiError } from '../errors';
import { findExecution } from '../../services/execution-view';
import { streamExecution } from '../../services/execution-event-stream';
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

export { ITEMS_EVENT_INTERVAL_MS, type ExecutionStreamEvent } from '../../services/execution-event-stream';
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
      // The client went away (or we ended): drop the subscription and the timers.
      reply.raw.once('close', () => {
        open.delete(end);
        end();
      });
    },
  );
};
