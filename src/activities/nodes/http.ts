import net from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { ApplicationFailure } from '@temporalio/common';
import { Agent, request } from 'undici';
import { defineNodeType, type NodeRunContext } from '../registry';
import { holdUntilActivityEnds } from '../heavy-lane';
import { decode, decodeAndParse, parseBody, readBody } from './http-body';
import { assertAddressAllowed, ForbiddenAddressError, guardedLookup } from './ssrf';
import { withHttpSpanTarget } from '../../observability/http-span-target';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
const Status = Type.Integer({ minimum: 100, maximum: 599 });

export const HttpConfigSchema = Type.Object(
  {
    method: Type.Optional(Type.Union(METHODS.map((m) => Type.Literal(m)), { default: 'GET' })),
    url: Type.String({ minLength: 1 }),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    query: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]))),
    body: Type.Optional(Type.Unknown()),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000, description: 'at most one day' })),
    expectStatus: Type.Optional(Type.Union([Status, Type.Array(Status, { minItems: 1 })])),
    maxResponseBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 16 * 1024 * 1024, description: 'at most 16 MiB' })),
    /**
     * Error types by status: an exact code ("429") or a class ("5xx"); the exact code wins.
     * Retry lists, `nonRetryableErrorTypes` and error edges then see these names.
     */
    errors: Type.Optional(
      Type.Record(Type.String({ pattern: '^[1-5]([0-9]{2}|xx)$' }), Type.String({ minLength: 1, maxLength: 200 }), {
        additionalProperties: false,
        maxProperties: 100,
      }),
    ),
  },
  { additionalProperties: false },
);
export type HttpConfig = Static<typeof HttpConfigSchema>;

export interface HttpOutput {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

const DEFAULT_MAX_RESPONSE_BYTES = 5 * 1024 * 1024;
/** How much of a rejected response's body goes into the failure details. */
const ERROR_BODY_BYTES = 4 * 1024;
/** Retry-After beyond this is clamped: the node's own retry policy stays in charge of long waits. */
const MAX_RETRY_AFTER_MS = 5 * 60 * 1000;

/**
 * Every connection resolves names through the SSRF guard, so the address checked is the one
 * connected to. Redirects are not followed (undici's default), which keeps them from bypassing
 * the IP-literal check; 3xx responses are returned to the workflow.
 */
const agent = new Agent({ connect: { lookup: guardedLookup } });

export const httpNodeType = defineNodeType({
  type: 'http',
  configSchema: HttpConfigSchema,
  secretFields: ['url', 'headers', 'query', 'body'],
  run: (config, ctx) => runHttp(config, ctx),
});

async function runHttp(config: HttpConfig, ctx: NodeRunContext): Promise<HttpOutput> {
  const method = config.method ?? 'GET';
  const url = targetUrl(config, ctx.shown?.url);
  const where = describeTarget(method, url, config.url, ctx.shown?.url);
  const hostLiteral = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (net.isIP(hostLiteral) !== 0) {
    try {
      assertAddressAllowed(hostLiteral, url.hostname);
    } catch (err) {
      throw classifyError(err, where, false);
    }
  }

  const controller = new AbortController();
  const onCancel = () => controller.abort(ctx.signal.reason);
  if (ctx.signal.aborted) onCancel();
  ctx.signal.addEventListener('abort', onCancel, { once: true });
  let timedOut = false;
  const timer =
    config.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          controller.abort(new Error(`timed out after ${config.timeoutMs} ms`));
        }, config.timeoutMs);

  try {
    const { headers: requestHeaders, body: requestBody } = encodeBody(config);
    withUrlCredentials(url, requestHeaders);
    // The trace span names the request as `where` does (template form, no query); see http-span-target.ts.
    const response = await withHttpSpanTarget(where.slice(method.length + 1), requestHeaders, () =>
      request(url, { method, headers: requestHeaders, body: requestBody, signal: controller.signal, dispatcher: agent }),
    );
    const headers = flattenHeaders(response.headers);
    if (!accepted(response.statusCode, config.expectStatus)) {
      const { buffer, truncated, release } = await readBody(response.body, headers, ERROR_BODY_BYTES, false);
      release();
      const text = decode(buffer, headers['content-type']);
      const body = truncated ? `${text}…` : parseBody(text, headers['content-type']);
      throw statusFailure(response.statusCode, headers, body, where, config.errors);
    }
    const limit = config.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const { buffer, release } = await readBody(response.body, headers, limit, true);
    try {
      const body = await decodeAndParse(buffer, headers['content-type']);
      return { status: response.statusCode, headers, body };
    } finally {
      holdUntilActivityEnds(release); // until the output is stored (heavy-lane.ts)
    }
  } catch (err) {
    if (err instanceof ApplicationFailure || ctx.signal.aborted) throw err;
    throw classifyError(err, where, timedOut);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onCancel);
  }
}

/**
 * How errors name the request: no query string (it may carry secrets) and no credentials. A URL
 * built from a secret is named from its template (`ctx.shown`), textually: through the URL parser
 * the template would be percent-encoded, and the resolved URL would be the secret in its parser's
 * encoding (a secret in the path came back as `tok|en%20with%20space`).
 */
function describeTarget(method: string, url: URL, resolved: string, shown: unknown): string {
  if (typeof shown !== 'string' || shown === resolved) return `${method} ${url.origin}${url.pathname}`;
  const withoutQuery = shown.replace(/[?#][\s\S]*$/, '');
  return `${method} ${withoutQuery.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1')}`;
}

function targetUrl(config: HttpConfig, shown: unknown): URL {
  let url: URL;
  try {
    url = new URL(config.url);
  } catch {
    throw configError(`invalid URL "${typeof shown === 'string' ? shown : config.url}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw configError(`unsupported URL scheme "${url.protocol}" (only http and https)`);
  }
  for (const [key, value] of Object.entries(config.query ?? {})) url.searchParams.append(key, String(value));
  return url;
}

function encodeBody(config: HttpConfig): { headers: Record<string, string>; body?: string } {
  const headers = { ...config.headers };
  if (config.body === undefined) return { headers };
  const hasContentType = Object.keys(headers).some((name) => name.toLowerCase() === 'content-type');
  if (typeof config.body === 'string') {
    if (!hasContentType) headers['content-type'] = 'text/plain; charset=utf-8';
    return { headers, body: config.body };
  }
  if (!hasContentType) headers['content-type'] = 'application/json';
  return { headers, body: JSON.stringify(config.body) };
}

/** undici silently drops user:pass@ from a URL; honour it as Basic auth unless one is given. */
function withUrlCredentials(url: URL, headers: Record<string, string>): void {
  if (url.username === '' && url.password === '') return;
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  if (Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) return;
  headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function accepted(status: number, expect: HttpConfig['expectStatus']): boolean {
  if (expect === undefined) return status >= 200 && status < 400;
  return Array.isArray(expect) ? expect.includes(status) : expect === status;
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function statusFailure(
  status: number,
  headers: Record<string, string>,
  body: unknown,
  where: string,
  errors: HttpConfig['errors'] = {},
): ApplicationFailure {
  const retryable = status === 408 || status === 429 || status >= 500;
  const retryAfter = status === 429 || status === 503 ? retryAfterMs(headers['retry-after']) : undefined;
  // A user's name for the status changes the type only; retryability stays the status's own.
  const named = errors[String(status)] ?? errors[`${String(status).charAt(0)}xx`];
  return ApplicationFailure.create({
    type: named ?? (retryable ? 'HttpServerError' : 'HttpClientError'),
    message: `${where} returned HTTP ${status}`,
    nonRetryable: !retryable,
    details: [{ status, body }],
    nextRetryDelay: retryAfter,
  });
}

function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const ms = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - Date.now();
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

function classifyError(err: unknown, where: string, timedOut: boolean): ApplicationFailure {
  const forbidden = findCause(err, (e) => e instanceof ForbiddenAddressError);
  if (forbidden instanceof ForbiddenAddressError) {
    return ApplicationFailure.create({
      type: 'HttpForbiddenAddress',
      message: `${where}: ${forbidden.message}`,
      nonRetryable: true,
      details: [{ address: forbidden.address, reason: forbidden.reason }],
    });
  }
  const error = err instanceof Error ? err : new Error(String(err));
  const code = (findCause(err, (e) => typeof (e as { code?: unknown }).code === 'string') as { code?: string } | undefined)?.code;
  if (code === 'UND_ERR_INVALID_ARG') return configError(`${where}: ${error.message}`);
  if (timedOut || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return ApplicationFailure.create({
      type: 'HttpTimeoutError',
      message: `${where}: ${timedOut ? 'request timed out' : error.message}`,
      nonRetryable: false,
      details: [{ code: code ?? 'TIMEOUT' }],
    });
  }
  return ApplicationFailure.create({
    type: 'HttpNetworkError',
    message: `${where}: ${error.message}`,
    nonRetryable: false,
    details: [{ code: code ?? null }],
    cause: error,
  });
}

/** Walks an error's cause chain; undici and Node sometimes wrap the interesting error. */
function findCause(err: unknown, match: (e: Error) => boolean): Error | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (match(e)) return e;
  }
  return undefined;
}

function configError(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'ConfigError', message, nonRetryable: true });
}
