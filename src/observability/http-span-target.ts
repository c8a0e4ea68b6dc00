import { context, createContextKey, trace } from '@opentelemetry/api';

/**
 * How a node's outgoing request is named in its trace span. The undici instrumentation would
 * record the resolved URL (`url.full`, `url.query`), and a URL built from a tenant's secret must
 * appear in its template form only, without query string or credentials (DESIGN §8), as the
 * node's errors name it. The http node runs its request inside `withHttpSpanTarget(shown)`; the
 * instrumentation's start hook (tracing.ts) reads it back from the active context. With tracing
 * off there is no context manager and this is a plain call.
 */
const HTTP_SPAN_TARGET = createContextKey('trellis.http.target');

export function withHttpSpanTarget<T>(target: string, fn: () => T): T {
  return context.with(context.active().setValue(HTTP_SPAN_TARGET, target), fn);
}

/** The shown target of the request being started, if a node named it. */
export function httpSpanTarget(): string | undefined {
  const target = context.active().getValue(HTTP_SPAN_TARGET);
  return typeof target === 'string' ? target : undefined;
}

/** The API request's server span (HTTP instrumentation) named by its route template; no-op without tracing. */
export function nameServerSpan(method: string, route: string | undefined): void {
  const span = trace.getActiveSpan();
  if (!span || route === undefined) return;
  span.updateName(`${method} ${route}`);
  span.setAttribute('http.route', route);
}
