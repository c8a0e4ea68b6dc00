import http from 'node:http';
import net from 'node:net';
import { Context } from '@temporalio/activity';
import { Counter, Histogram, Registry } from 'prom-client';
import { TEST_NODE_WORKFLOW_PREFIX } from '../contracts/dag-workflow';
import type { NodeActivityInput, NodeActivityResult } from '../contracts/node-activity';
import type { MapItemsActivities } from '../contracts/map-items';
import type { LimiterActivities } from '../contracts/limiter';

type NodeActivity = (input: NodeActivityInput) => Promise<NodeActivityResult>;

/**
 * Trellis's own worker metrics (DESIGN §7), per node type, on a registry of their own (the API's
 * /metrics uses prom-client too, on its app's registry; tests build several of each in one
 * process). The SDK's worker metrics (task slots, poll latency, schedule-to-start, sticky cache)
 * come from Temporal's native runtime; WorkerMetricsServer serves both on one port.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly attempts = new Counter({
    name: 'trellis_worker_node_attempts_total',
    help: 'Node attempts (activity executions) this worker ran, by node type and outcome (succeeded, failed, cancelled, deferred: sent back to its run by the fair-share gate)',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'trellis_worker_node_attempt_duration_seconds',
    help: 'Duration of node attempts on this worker, by node type and outcome',
    labelNames: ['type', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  private readonly failures = new Counter({
    name: 'trellis_worker_node_failures_total',
    help: 'Failed node attempts by node type and error type (the failure type: HttpError, ConfigError, Timeout, ...)',
    labelNames: ['type', 'error_type'] as const,
    registers: [this.registry],
  });
  private readonly mapItems = new Counter({
    name: 'trellis_worker_map_items_total',
    help: 'Map items and loop iterations recorded by this worker, by final status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  private readonly limiterRequests = new Counter({
    name: 'trellis_worker_limiter_waits_total',
    help: 'Node attempts that asked a limiter (concurrency or rate limit) for a slot and waited for its grant, by limit kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  /** Every node activity measured: attempts, duration and failures by the failure's type. */
  wrapNodeActivities(activities: Record<string, NodeActivity>): Record<string, NodeActivity> {
    return Object.fromEntries(
      Object.entries(activities).map(([type, activity]) => [
        type,
        async (input: NodeActivityInput) => {
          // POST /workflows/test-node's attempts are a tenant trying a node out, not the work of runs.
          if (isNodeTest()) return activity(input);
          const stop = this.duration.startTimer({ type });
          try {
            const result = await activity(input);
            const outcome = result.deferred === true ? 'deferred' : 'succeeded';
            this.attempts.inc({ type, outcome });
            stop({ outcome });
            return result;
          } catch (err) {
            const outcome = errorType(err) === 'CancelledFailure' ? 'cancelled' : 'failed';
            this.attempts.inc({ type, outcome });
            stop({ outcome });
            if (outcome === 'failed') this.failures.inc({ type, error_type: errorType(err) });
            throw err;
          }
        },
      ]),
    );
  }

  wrapMapItems(activities: MapItemsActivities): MapItemsActivities {
    return {
      recordMapItems: async (batch) => {
        await activities.recordMapItems(batch);
        for (const item of batch.items) this.mapItems.inc({ status: item.status });
      },
    };
  }

  private readonly droppedStarts = new Counter({
    name: 'trellis_worker_starts_dropped_total',
    help: 'Scheduled starts dropped by run-level concurrency (onLimit drop): recorded on the schedule, no run',
    labelNames: ['trigger'] as const,
    registers: [this.registry],
  });

  /** A dropped start recorded (src/activities/dropped-starts.ts). */
  countDroppedStart(): void {
    this.droppedStarts.inc({ trigger: 'SCHEDULE' });
  }

  wrapLimiter(activities: LimiterActivities): LimiterActivities {
    return {
      ...activities,
      requestLimitSlot: async (input) => {
        await activities.requestLimitSlot(input);
        this.limiterRequests.inc({ kind: input.identity.kind });
      },
    };
  }
}

/** Whether the current activity belongs to a node test (its workflow id says so). */
function isNodeTest(): boolean {
  try {
    return Context.current().info.workflowExecution?.workflowId.startsWith(TEST_NODE_WORKFLOW_PREFIX) ?? false;
  } catch {
    return false; // called outside an activity (tests calling the wrapped function directly)
  }
}

/** An ApplicationFailure's own type (the node's error type), else the error class; bounded length (a label). */
function errorType(err: unknown): string {
  const type = (err as { type?: unknown }).type;
  const name = typeof type === 'string' && type !== '' ? type : err instanceof Error ? err.constructor.name : 'Unknown';
  return name.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 64);
}

/** A free loopback port, for the SDK's Prometheus exporter (it takes an address, not a socket). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface WorkerMetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * GET /metrics on `port`: Trellis's metrics followed by the SDK's (scraped from its exporter on
 * a private loopback port). One port to scrape per worker; the SDK's names are `temporal_*`,
 * ours `trellis_worker_*`, so the two texts never declare the same metric.
 */
export async function startWorkerMetricsServer(options: { host?: string; port: number; metrics: WorkerMetrics; sdkMetricsUrl?: string }): Promise<WorkerMetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    void (async () => {
      const own = await options.metrics.registry.metrics();
      const sdk = options.sdkMetricsUrl ? await scrapeSdk(options.sdkMetricsUrl) : '';
      res.writeHead(200, { 'content-type': options.metrics.registry.contentType }).end(`${own}\n${sdk}`);
    })().catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics unavailable: ${(err as Error).message}\n`);
    });
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function scrapeSdk(url: string): Promise<string> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return response.ok ? await response.text() : `# temporal sdk metrics: HTTP ${response.status}\n`;
  } catch (err) {
    // A scrape still gets Trellis's own metrics when the SDK's exporter does not answer.
    return `# temporal sdk metrics unavailable: ${(err as Error).message.replace(/\n/g, ' ')}\n`;
  }
}
