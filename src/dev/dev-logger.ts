import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import type { DestinationStream, LoggerOptions } from 'pino';
import { createLogger, fastifyLoggerOptions, temporalLogger, type LogFormat, type LogLevelName } from '../observability/logger';

const LEVELS: readonly LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

/** The first line of an error's message (a failed node's full story is in the API and the console). */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.slice(0, 300);
}

/**
 * One line per log entry of the Temporal worker in dev mode, e.g.
 *   `node fetch (http) failed, attempt 2, run 6c1f…: HTTP 503 from 127.0.0.1:4100`
 * Stack traces only at LOG_LEVEL=debug, where the entry's metadata is printed too.
 */
export function formatWorkerLog(entry: LogEntry, verbose: boolean): string {
  const meta = entry.meta ?? {};
  const error = meta.error;
  if (entry.message === 'Activity failed') {
    const what = `node ${String(meta.activityId ?? '?')} (${String(meta.activityType ?? '?')})`;
    const line = `${what} failed, attempt ${String(meta.attempt ?? '?')}, run ${String(meta.workflowId ?? '?')}: ${firstLine(error)}`;
    return verbose && error instanceof Error && error.stack ? `${line}\n${error.stack}` : line;
  }
  const base = `${entry.level.toLowerCase()}: ${entry.message}${error === undefined ? '' : `: ${firstLine(error)}`}`;
  if (!verbose) return base;
  const { error: _error, ...rest } = meta;
  const stack = error instanceof Error && error.stack ? `\n${error.stack}` : '';
  return `${base} ${JSON.stringify(rest, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}${stack}`;
}

/** Installs the dev logger as the Temporal runtime's logger (once per process, before any worker). */
export function installDevLogger(level = 'WARN'): void {
  const temporalLevel: LogLevel = (LEVELS as string[]).includes(level) ? (level as LogLevel) : 'WARN';
  const verbose = LEVELS.indexOf(temporalLevel) <= LEVELS.indexOf('DEBUG');
  const logger = new DefaultLogger(temporalLevel, (entry) => {
    const line = `trellis dev: ${formatWorkerLog(entry, verbose)}`;
    if (entry.level === 'ERROR' || entry.level === 'WARN') console.error(line);
    else console.log(line);
  });
  Runtime.install({ logger });
}

/**
 * Dev mode's logging as LOG_FORMAT asks (pretty unless set): pretty gives the one-line worker
 * messages above and Fastify's lines through pino-pretty; json gives the production processes'
 * JSON lines (pino, `name` trellis-dev) for the worker, the SDK and the API alike. Returns the
 * options for the API's Fastify logger. `destination`: where JSON lines go (tests; default stdout).
 */
export function installDevLogging(level: LogLevelName, format: LogFormat, destination?: DestinationStream): LoggerOptions {
  const options = { name: 'trellis-dev', level, format };
  if (format === 'pretty') installDevLogger(level.toUpperCase());
  else Runtime.install({ logger: temporalLogger(createLogger({ ...options, ...(destination && { destination }) })) });
  return fastifyLoggerOptions(options);
}
