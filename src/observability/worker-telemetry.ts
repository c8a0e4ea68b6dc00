import { Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import type { Logger } from 'pino';
import { temporalLogger } from './logger';
import { WorkerMetrics, freeLoopbackPort, startWorkerMetricsServer, type WorkerMetricsServer } from './worker-metrics';

export interface WorkerTelemetry {
  metrics?: WorkerMetrics;
  server?: WorkerMetricsServer;
  close(): Promise<void>;
}

/**
 * The worker process's telemetry, installed once before any connection (Temporal's Runtime is
 * per process): the SDK's logger and its native core's warnings into `logger`, and with
 * `metricsPort` the SDK's Prometheus exporter on a private loopback port merged with Trellis's
 * own metrics on `metricsPort` (one scrape target per worker).
 */
export async function installWorkerTelemetry(options: { logger: Logger; metricsPort?: number; metricsHost?: string }): Promise<WorkerTelemetry> {
  const sdkPort = options.metricsPort === undefined ? undefined : await freeLoopbackPort();
  Runtime.install({
    logger: temporalLogger(options.logger),
    telemetryOptions: {
      logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) },
      ...(sdkPort !== undefined && { metrics: { prometheus: { bindAddress: `127.0.0.1:${sdkPort}`, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } } }),
    },
  });
  if (options.metricsPort === undefined) return { close: async () => {} };
  const metrics = new WorkerMetrics();
  const server = await startWorkerMetricsServer({ port: options.metricsPort, host: options.metricsHost, metrics, sdkMetricsUrl: `http://127.0.0.1:${sdkPort}/metrics` });
  options.logger.info({ port: server.port }, 'worker metrics on /metrics');
  return { metrics, server, close: () => server.close() };
}
