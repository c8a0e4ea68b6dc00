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
const REPLACED_TRACE_CONTEXT = createContextKey('trellis.http.replacedTraceContext');

/** The W3C trace-context headers a node's config set, taken off its request because Trellis sends its own. */
export interface ReplacedTraceContext {
  traceparent?: string;
  tracestate?: string;
}

/**
 * Runs the node's request `fn` with its shown target, and decides whose `traceparent` goes out.
 * Inside a trace (tracing on: the undici instrumentation will write the request span's
 * traceparent) the run's trace wins: a `traceparent` / `tracestate` in the node's `headers`
 * (any case) is removed from them, so the target gets exactly one trace context (two
 * traceparent headers would be invalid W3C, and the tenant's alone would cut the run's trace
 * at its target), and the request span records the removed one as a link (tracing.ts), never
 * its raw text. Outside a trace (tracing off) the headers go out as the node gave them.
 */
export function withHttpSpanTarget<T>(target: string, headers: Record<string, string>, fn: () => T): T {
  let ctx = context.active().setValue(HTTP_SPAN_TARGET, target);
  const active = trace.getSpan(context.active())?.spanContext();
  if (active && trace.isSpanContextValid(active)) {
    const replaced: ReplacedTraceContext = {};
    for (const name of Object.keys(headers)) {
      const lower = name.toLowerCase();
      if (lower !== 'traceparent' && lower !== 'tracestate') continue;
      replaced[lower] = headers[name];
      delete headers[name];
    }
    if (replaced.traceparent !== undefined || replaced.tracestate !== undefined) ctx = ctx.setValue(REPLACED_TRACE_CONTEXT, replaced);
  }
  return context.with(ctx, fn);
}

/** The trace context the node's own headers carried and its request no longer does, if any. */
export function replacedTraceContext(): ReplacedTraceContext | undefined {
  return context.active().getValue(REPLACED_TRACE_CONTEXT) as ReplacedTraceContext | undefined;
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
