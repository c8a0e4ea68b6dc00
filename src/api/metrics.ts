import { timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import { ApiError } from './errors';
import { setting } from '../config';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Db } from '../db/client';
import { PUBLIC_ROUTE, errorResponses } from './schemas';
import { executionStatusCounts, nodeDurationQuantiles, nodeRunStatusCounts } from '../services/workflow-stats';
import { isStartDropped } from '../services/run-slots';
import type { ExecutionTrigger } from '../services/executions';

export interface TrellisMetrics {
  registry: Registry;
  /** Runs the API started, by trigger (MANUAL, WEBHOOK, RETRY, ...). */
  runsStarted: Counter<'trigger'>;
  /** Starts refused by run-level concurrency (onLimit drop, no run created), by trigger. */
  startsDropped: Counter<'trigger'>;
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: TrellisMetrics;
  }
}

/**
 * Prometheus metrics on a registry of this app's own: tests (and `npm run dev`) build several
 * apps in one process, and the global registry refuses a metric registered twice.
 */
const plugin: FastifyPluginAsync<{ db: Db; token?: string }> = async (app, { db, token }) => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const httpDuration = new Histogram({
    name: 'trellis_http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const runsStarted = new Counter({
    name: 'trellis_runs_started_total',
    help: 'Runs started through the API, by trigger',
    labelNames: ['trigger'] as const,
    registers: [registry],
  });

  const startsDropped = new Counter({
    name: 'trellis_starts_dropped_total',
    help: 'Starts the API refused under run-level concurrency with onLimit drop (no run created), by trigger: MANUAL answered 409 CONCURRENCY_LIMITED, WEBHOOK answered DROPPED',
    labelNames: ['trigger'] as const,
    registers: [registry],
  });

  // Run and node states live in Postgres (the mirror is written by workflows on any worker),
  // so these are read at scrape time rather than counted in this process.
  const logScrapeFailure = (metric: string, err: unknown) =>
    app.log.warn({ err, metric }, 'metrics: could not read from Postgres; the metric is left out of this scrape');

  /** Rows per status of a mirror table; every status is reported, 0 when absent. */
  const statusGauge = (name: string, help: string, counts: (db: Db) => Promise<Record<string, number>>) =>
    new Gauge({
      name,
      help,
      labelNames: ['status'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        try {
          for (const [status, n] of Object.entries(await counts(db))) this.set({ status }, n);
        } catch (err) {
          logScrapeFailure(name, err);
        }
      },
    });

  statusGauge('trellis_executions', 'Executions in the mirror, by status', executionStatusCounts);
  statusGauge('trellis_node_runs', 'Node runs in the mirror, by status', nodeRunStatusCounts);
  new Gauge({
    name: 'trellis_node_run_duration_seconds',
    help: 'Duration of node runs finished in the last hour: p50 and p95 per node type',
    labelNames: ['type', 'quantile'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const row of await nodeDurationQuantiles(db)) {
          this.set({ type: row.type, quantile: '0.5' }, row.p50);
          this.set({ type: row.type, quantile: '0.95' }, row.p95);
        }
      } catch (err) {
        logScrapeFailure('trellis_node_run_duration_seconds', err);
      }
    },
  });

  app.decorate('metrics', { registry, runsStarted, startsDropped });

  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, not the URL: ids in paths would make one series per resource.
    const route = request.routeOptions.url ?? 'unmatched';
    httpDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });

  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format)',
        description: 'Served to loopback clients, or with "Authorization: Bearer $TRELLIS_METRICS_TOKEN" when the server sets it.',
        ...PUBLIC_ROUTE,
        response: {
          200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...errorResponses(403, 429),
        },
      },
    },
    async (request, reply) => {
      // Counts across every tenant: for the operator's scraper, not for tenants' API keys.
      if (!metricsAllowed(request, token)) {
        throw new ApiError(
          403,
          'FORBIDDEN',
          'metrics are served to loopback clients, or to "Authorization: Bearer $TRELLIS_METRICS_TOKEN" when the server sets that variable',
        );
      }
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  );
};

/**
 * The operator's token when TRELLIS_METRICS_TOKEN is set. Otherwise only a client on this
 * machine connecting directly: judged by the socket (never request.ip, which a trusted proxy's
 * X-Forwarded-For sets), and refused when the request came through a proxy at all (it carries
 * forwarding headers): a reverse proxy on the same machine would otherwise let everyone in.
 */
function metricsAllowed(request: FastifyRequest, given: string | undefined): boolean {
  const token = given ?? setting('TRELLIS_METRICS_TOKEN');
  if (token) {
    const given = Buffer.from(request.headers.authorization?.replace(/^Bearer\s+/i, '') ?? '');
    const wanted = Buffer.from(token);
    return given.length === wanted.length && timingSafeEqual(given, wanted);
  }
  const forwarded = request.headers['x-forwarded-for'] !== undefined || request.headers.forwarded !== undefined || request.headers['x-real-ip'] !== undefined;
  const ip = request.socket.remoteAddress ?? '';
  return !forwarded && (ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.'));
}

/** Not encapsulated: the metrics decorator and the timing hook must reach every route. */
export const metricsPlugin = fp(plugin, { name: 'trellis-metrics' });

/** What the start routes count: runs created, and starts refused by `onLimit: drop` (no run). */
export interface StartCounts {
  created(trigger: ExecutionTrigger): void;
  /** Passes the start's outcome through, counting a dropped start on the way. */
  droppedFrom<T>(trigger: ExecutionTrigger, start: Promise<T>): Promise<T>;
}

export function startCounts(app: FastifyInstance): StartCounts {
  return {
    created: (trigger) => app.metrics.runsStarted.inc({ trigger }),
    droppedFrom: (trigger, start) =>
      start.catch((err: unknown) => {
        if (isStartDropped(err)) app.metrics.startsDropped.inc({ trigger });
        throw err;
      }),
  };
}
