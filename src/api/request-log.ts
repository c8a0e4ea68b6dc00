import type { FastifyRequest } from 'fastify';

/**
 * What the API's request log may say about a URL (DESIGN §8: credentials in request URLs never
 * reach a log). A webhook's token is its path's last segment; a query parameter whose name says
 * it holds a credential (`token`, `key`, `access_token`, `password`, `signature`, …) keeps its name
 * and loses its value. Headers are not logged at all (the codec cookie, Authorization).
 */
export const REDACTED = '[redacted]';

/** `/hooks/:workflowId/:token`: the token is the credential. */
const HOOK_TOKEN = /^(\/hooks\/[^/?#]+\/)[^/?#]+/;
/** Query parameter names that carry credentials, by the conventions in use (OAuth, cloud SDKs, signed URLs). */
const CREDENTIAL_PARAM = /token|key|secret|pass(word|wd)?|pwd|sig(nature)?|auth|credential|session|cookie|^code$/i;

/** The URL with every credential it may carry replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  const shownPath = path.replace(HOOK_TOKEN, `$1${REDACTED}`);
  if (queryAt === -1) return shownPath;
  const query = url
    .slice(queryAt + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      return CREDENTIAL_PARAM.test(safeDecode(name)) ? `${name}=${REDACTED}` : pair;
    })
    .join('&');
  return `${shownPath}?${query}`;
}

/** Every URL-looking path inside free text (an error message quoting the request line). */
export function redactUrlsIn(text: string): string {
  return text.replace(/\/hooks\/[^\s'"`]*|[?&][^\s'"`]*/g, (match) => (match.startsWith('/') ? redactUrl(match) : `${match[0]}${redactUrl(`?${match.slice(1)}`).slice(1)}`));
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** Fastify's request serializer, with the URL redacted. */
function serializeRequest(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** An error as pino writes it, with credentials taken out of the message and stack. */
function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const { code, statusCode } = err as { code?: unknown; statusCode?: unknown };
  return { type: err.name, message: redactUrlsIn(err.message), stack: err.stack === undefined ? undefined : redactUrlsIn(err.stack), code, statusCode };
}

/** The Fastify logger option with the redacting serializers; `false` stays off. */
export function requestLoggerOptions(logger: boolean | object): false | object {
  if (logger === false) return false;
  const given = logger === true ? {} : (logger as { serializers?: Record<string, unknown> });
  return { ...given, serializers: { req: serializeRequest, err: serializeError, ...given.serializers } };
}
