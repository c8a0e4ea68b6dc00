import pino, { type Logger, type LoggerOptions } from 'pino';
import { DefaultLogger, type LogEntry, type LogLevel } from '@temporalio/worker';
import { REDACTED, redactUrl, redactUrlsIn } from '../api/request-log';

/**
 * The one logger of a Trellis process (DESIGN §7): pino, JSON lines by default, `LOG_FORMAT=pretty`
 * for people (pino-pretty). The API hands it to Fastify, the worker routes the Temporal SDK's
 * runtime logger (worker, activity and workflow `log` lines) into it. Nothing a log line carries
 * may hold a credential: keys that name one are censored wherever they sit, and URLs and error
 * texts lose webhook tokens and credential query parameters (the API's request-log redactor).
 * Node secrets resolved in an activity are redacted from its errors before they reach a log
 * (activities/secrets.ts Redactor).
 */
export type LogFormat = 'json' | 'pretty';
export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** Keys whose values are credentials, at the top or one/two levels down (pino's fast-redact paths). */
const SECRET_KEYS = [
  'authorization', 'Authorization', 'cookie', 'Cookie', 'password', 'passwd', 'secret', 'secrets', 'token', 'apiKey', 'api_key', 'accessToken',
  'access_token', 'refreshToken', 'clientSecret', 'masterKey', 'payloadKey', 'privateKey', 'databaseUrl', 'connectionString', 'DATABASE_URL',
];
export const REDACT_PATHS = [...SECRET_KEYS, ...SECRET_KEYS.map((k) => `*.${k}`), ...SECRET_KEYS.map((k) => `*.*.${k}`), 'headers', '*.headers'];

/** A credential-bearing URL (`postgres://user:pass@host`, `https://x/?token=…`) in free text. */
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi;

export function redactText(text: string): string {
  return redactUrlsIn(text.replace(USERINFO, `$1${REDACTED}@`));
}

/** An error as a log line carries it: type, message and stack with credentials taken out, its cause too. */
export function serializeError(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error)) return typeof err === 'string' ? redactText(err) : err;
  const { code, type } = err as { code?: unknown; type?: unknown };
  return {
    type: typeof type === 'string' ? type : err.name,
    message: redactText(err.message),
    ...(err.stack !== undefined && { stack: redactText(err.stack) }),
    ...(code !== undefined && { code }),
    ...(err.cause !== undefined && depth < 3 && { cause: serializeError(err.cause, depth + 1) }),
  };
}

export interface TrellisLoggerOptions {
  /** `trellis-api`, `trellis-worker`, `trellis-dev`: the `name` field of every line. */
  name: string;
  level?: LogLevelName;
  format?: LogFormat;
  /** Where lines go (tests); default stdout. Ignored with the pretty format. */
  destination?: pino.DestinationStream;
}

/** The pino options (Fastify takes options or an instance; the API passes the instance). */
export function loggerOptions(options: TrellisLoggerOptions): LoggerOptions {
  return {
    name: options.name,
    level: options.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { err: serializeError, error: serializeError, url: (url: unknown) => (typeof url === 'string' ? redactUrl(url) : url) },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Messages are free text (an error quoted in a line, a URL): they get the same redaction.
    hooks: {
      logMethod(args, method) {
        method.apply(this, args.map((arg) => (typeof arg === 'string' ? redactText(arg) : arg)) as Parameters<typeof method>);
      },
    },
  };
}

export function createLogger(options: TrellisLoggerOptions): Logger {
  const base = loggerOptions(options);
  if (options.format === 'pretty') {
    // pino-pretty in this thread (sync): no worker thread to lose lines in at exit; people read it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pretty = require('pino-pretty') as (o: object) => pino.DestinationStream;
    return pino(base, pretty({ colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }));
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}

const TEMPORAL_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

function temporalLevel(level: string): LogLevel {
  const upper = level.toUpperCase();
  if (upper === 'FATAL' || upper === 'SILENT') return 'ERROR';
  return upper in TEMPORAL_LEVEL ? (upper as LogLevel) : 'INFO';
}

/**
 * The run context of an SDK log entry under Trellis's names: the workflow id is the execution
 * id. A node attempt's nodeId, tenantId and attempt come from the activity interceptor
 * (log-context.ts); the activity id is not the node id for the engine's own activities, so it
 * keeps its name. The task token is an opaque blob that only lengthens lines.
 */
function runContext(meta: Record<string, unknown>): Record<string, unknown> {
  const { workflowId, taskToken: _taskToken, ...rest } = meta;
  return {
    ...(rest.executionId === undefined && workflowId !== undefined && { executionId: workflowId }),
    ...(workflowId !== undefined && { workflowId }),
    ...rest,
  };
}

/**
 * The Temporal SDK's runtime logger (Runtime.install({ logger })) writing into `logger`:
 * worker lines, activity lines (`Activity failed`, Context.log) and workflow `log` lines (the
 * SDK's default logger sink) carry their metadata as fields, renamed to Trellis's run context.
 */
export function temporalLogger(logger: Logger): DefaultLogger {
  return new DefaultLogger(temporalLevel(logger.level), (entry: LogEntry) => {
    const { error, ...meta } = entry.meta ?? {};
    const fields = runContext(meta);
    if (error !== undefined) fields.err = error;
    logger[TEMPORAL_LEVEL[entry.level]](fields, entry.message);
  });
}

/** The same logger as Fastify's `logger` option (Fastify adds its request serializers, see api/request-log.ts). */
export function fastifyLoggerOptions(options: TrellisLoggerOptions): LoggerOptions {
  const base = loggerOptions(options);
  if (options.format !== 'pretty') return base;
  return { ...base, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } };
}
