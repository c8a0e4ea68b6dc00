/* eslint-disable @typescript-eslint/no-require-imports -- the SDK is loaded only when tracing is on (see load()) */
import path from 'node:path';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { ActivityInterceptorsFactory, InjectedSinks, WorkerOptions } from '@temporalio/worker';
import type { Sampler, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Resource } from '@opentelemetry/resources';
import { context, propagation, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { TrellisConfig } from '../config';
import { redactUrl } from '../api/request-log';
import { httpSpanTarget, replacedTraceContext } from './http-span-target';

/**
 * OpenTelemetry traces (DESIGN §7), configured by the standard OTEL_* variables (read through
 * src/config like every setting). One trace per run: the API's request span (HTTP server
 * instrumentation), the client's StartWorkflow span, the workflow's RunWorkflow and
 * StartActivity spans (the Temporal workflow interceptors, exported through a sink), each node
 * attempt's RunActivity span (activity interceptor), and below it the attempt's own requests:
 * undici (the http node, which sends `traceparent` to its target) and pg (Postgres queries:
 * the postgres node's and Prisma's). A run a schedule starts has no caller: its trace begins at
 * RunWorkflow.
 *
 * Off by default: without an exporter nothing of the SDK is loaded, nothing is patched and the
 * Temporal interceptors are not installed (a prebuilt workflow bundle carries the workflow
 * interceptors and gets a sink that drops their spans; see tracedWorkerOptions).
 */

export type TracingRole = 'api' | 'worker' | 'dev';

export interface TracingSettings {
  exporter: 'otlp' | 'console';
  /** The OTLP/HTTP traces URL (…/v1/traces). */
  url: string;
  protocol: 'http/protobuf' | 'http/json';
  headers: Record<string, string>;
  serviceName: string;
  resourceAttributes: Record<string, string>;
  sampler: { name: TrellisConfig['OTEL_TRACES_SAMPLER']; ratio: number };
}

const DEFAULT_ENDPOINT = 'http://localhost:4318';
const DEFAULT_SERVICE: Record<TracingRole, string> = { api: 'trellis-api', worker: 'trellis-worker', dev: 'trellis-dev' };

type OtelSettings = Pick<
  TrellisConfig,
  | 'OTEL_TRACES_EXPORTER'
  | 'OTEL_EXPORTER_OTLP_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'
  | 'OTEL_EXPORTER_OTLP_PROTOCOL'
  | 'OTEL_EXPORTER_OTLP_HEADERS'
  | 'OTEL_SERVICE_NAME'
  | 'OTEL_RESOURCE_ATTRIBUTES'
  | 'OTEL_TRACES_SAMPLER'
  | 'OTEL_TRACES_SAMPLER_ARG'
  | 'sources'
>;

/**
 * What the settings ask for, or undefined (tracing off): OTEL_TRACES_EXPORTER=otlp or console
 * turns it on; unset, an OTLP endpoint variable alone turns OTLP on (as an operator setting
 * only the collector's address means); `none` turns it off whatever else is set.
 */
export function tracingSettings(config: OtelSettings, role: TracingRole): TracingSettings | undefined {
  const explicit = config.sources.OTEL_TRACES_EXPORTER === 'environment';
  const endpointGiven = config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined || config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined;
  const exporter = explicit ? config.OTEL_TRACES_EXPORTER : endpointGiven ? 'otlp' : 'none';
  if (exporter === 'none') return undefined;
  const base = (config.OTEL_EXPORTER_OTLP_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  return {
    exporter,
    url: config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${base}/v1/traces`,
    protocol: config.OTEL_EXPORTER_OTLP_PROTOCOL,
    headers: keyValues(config.OTEL_EXPORTER_OTLP_HEADERS),
    serviceName: config.OTEL_SERVICE_NAME ?? DEFAULT_SERVICE[role],
    resourceAttributes: keyValues(config.OTEL_RESOURCE_ATTRIBUTES),
    sampler: { name: config.OTEL_TRACES_SAMPLER, ratio: config.OTEL_TRACES_SAMPLER_ARG },
  };
}

/** `k1=v1,k2=v2` (the OTEL_* list format; values percent-decoded). */
export function keyValues(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    const raw = pair.slice(at + 1).trim();
    let value = raw;
    try {
      value = decodeURIComponent(raw);
    } catch {
      // not percent-encoded: as written
    }
    if (key) out[key] = value;
  }
  return out;
}

export interface Tracing {
  readonly settings: TracingSettings;
  /** Exports every ended span now (tests; a process's stop). */
  flush(): Promise<void>;
  /** Flushes, unpatches the instrumented modules and unregisters the global provider. */
  shutdown(): Promise<void>;
}

interface ActiveTracing extends Tracing {
  processor: SpanProcessor;
  resource: Resource;
}

let active: ActiveTracing | undefined;

/** This process's tracing, when on. */
export function activeTracing(): Tracing | undefined {
  return active;
}

/**
 * Starts tracing for this process when the settings ask for it (else returns undefined and
 * loads nothing). Call it before the Temporal clients and the worker are made: they pick up
 * their interceptors from here. Modules imported earlier (pg, http) are patched in place.
 */
export function startTracing(config: OtelSettings, role: TracingRole): Tracing | undefined {
  if (active) return active;
  const settings = tracingSettings(config, role);
  if (!settings) return undefined;
  const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
  const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { Resource: ResourceClass } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const { registerInstrumentations } = require('@opentelemetry/instrumentation') as typeof import('@opentelemetry/instrumentation');

  const resource = new ResourceClass({ ...settings.resourceAttributes, 'service.name': settings.serviceName });
  const processor = new BatchSpanProcessor(spanExporter(settings));
  // The sampler from the loaded config: the SDK would read process.env itself, not the config a process was given.
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor], sampler: sampler(settings.sampler) });
  provider.register(); // AsyncLocalStorage context, W3C traceparent + baggage propagation
  const unregister = registerInstrumentations({ tracerProvider: provider, instrumentations: instrumentations() });
  // A module required before the hooks existed is patched when required again (its prototypes
  // are shared): the processes import pg and http long before their start calls this.
  for (const name of ['http', 'https', 'pg', 'pg-pool']) require(name);

  const tracing: ActiveTracing = {
    settings,
    processor,
    resource,
    flush: () => provider.forceFlush(),
    async shutdown() {
      if (active === tracing) active = undefined;
      unregister();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
  active = tracing;
  return tracing;
}

/** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG as the SDK reads them from the environment. */
function sampler({ name, ratio }: TracingSettings['sampler']): Sampler {
  const base = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const root = name.endsWith('always_off') ? new base.AlwaysOffSampler() : name.endsWith('traceidratio') ? new base.TraceIdRatioBasedSampler(ratio) : new base.AlwaysOnSampler();
  return name.startsWith('parentbased_') ? new base.ParentBasedSampler({ root }) : root;
}

function spanExporter(settings: TracingSettings): SpanExporter {
  if (settings.exporter === 'console') {
    const { ConsoleSpanExporter } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
    return new ConsoleSpanExporter();
  }
  const options = { url: settings.url, headers: settings.headers };
  if (settings.protocol === 'http/json') {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter(options);
  }
  const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto') as typeof import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter(options);
}

/** Paths that probes and scrapers call every few seconds, and an OTLP collector in the same process (dev, tests): no trace each. */
const UNTRACED_PATHS = /^\/(healthz|readyz|livez|metrics|v1\/traces)(\/|\?|$)/;

function instrumentations() {
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof import('@opentelemetry/instrumentation-http');
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof import('@opentelemetry/instrumentation-pg');
  const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici') as typeof import('@opentelemetry/instrumentation-undici');
  return [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (request) => UNTRACED_PATHS.test(request.url ?? ''),
      // Webhook tokens and credential query parameters never reach a span (as never a log line).
      startIncomingSpanHook: (request): Attributes => ({ 'http.target': redactUrl(request.url ?? ''), 'http.url': redactUrl(request.url ?? '') }),
      // Outgoing node:http calls of the processes' own libraries only within a trace.
      requireParentforOutgoingSpans: true,
    }),
    // Queries only inside a trace: the reconciler's and the mirror's background polls start none.
    new PgInstrumentation({ requireParentSpan: true }),
    new UndiciInstrumentation({
      requireParentforSpans: true,
      startSpanHook: (request) => undiciAttributes(request.origin, request.path),
      requestHook: (span) => linkReplacedTraceContext(span),
    }),
  ];
}

/**
 * The request went out with the run's traceparent instead of the one the node's headers set
 * (http-span-target.ts): the span says so, and links the tenant's trace context when it is a
 * valid W3C one, so a trace viewer can still go from the run's request to the tenant's trace.
 * Only parsed ids reach the span, never the header's text.
 */
function linkReplacedTraceContext(span: Span): void {
  const replaced = replacedTraceContext();
  if (!replaced || !span.isRecording()) return;
  span.setAttribute('trellis.http.trace_context_replaced', true);
  if (replaced.traceparent === undefined) return;
  const { parseTraceParent, TraceState } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  const parent = parseTraceParent(replaced.traceparent.trim());
  if (!parent || !trace.isSpanContextValid(parent)) return;
  let traceState;
  try {
    traceState = replaced.tracestate === undefined ? undefined : new TraceState(replaced.tracestate);
  } catch {
    traceState = undefined;
  }
  span.addLink({ context: { ...parent, isRemote: true, ...(traceState && { traceState }) }, attributes: { 'trellis.link': 'node header traceparent' } });
}

/**
 * A node's request as its errors name it: the template form its node gave (http-span-target.ts),
 * else origin and path; never the query string or credentials.
 */
function undiciAttributes(origin: string, path: string): Attributes {
  let pathname = path.replace(/[?#][\s\S]*$/, '');
  let full = `${origin.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1')}${pathname}`;
  const shown = httpSpanTarget();
  if (shown !== undefined) {
    full = shown;
    pathname = shown.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '') || '/';
  }
  return { 'url.full': full, 'url.path': pathname, 'url.query': '' };
}

/** The Temporal client's interceptors: StartWorkflow spans and the trace context in the start's headers. */
export function tracingClientInterceptors(): WorkflowClientInterceptor[] {
  if (!active) return [];
  const { OpenTelemetryWorkflowClientInterceptor } = require('@temporalio/interceptors-opentelemetry/lib/client') as typeof import('@temporalio/interceptors-opentelemetry/lib/client');
  return [new OpenTelemetryWorkflowClientInterceptor()];
}

/** The workflow interceptor module (RunWorkflow, StartActivity, StartChildWorkflow spans); it adds headers, never commands or yields. */
export const TRACING_WORKFLOW_INTERCEPTORS = path.join(__dirname, '..', 'workflows', 'tracing-interceptors');

/** A prebuilt bundle always has the workflow interceptors; with tracing off their spans go nowhere. */
const DROP_WORKFLOW_SPANS: InjectedSinks<{ exporter: { export(spans: unknown[]): void } }> = {
  exporter: { export: { fn: () => undefined } },
};

/**
 * The worker's options with tracing: the workflow interceptor module (bundled at start; a
 * prebuilt bundle has it built in), the sink that exports the workflow's spans, and the
 * activity interceptors (the RunActivity span of each attempt, with the run context as
 * attributes). Unchanged when tracing is off.
 */
export function tracedWorkerOptions(options: WorkerOptions): WorkerOptions {
  const prebuilt = options.workflowBundle !== undefined;
  if (!active) return prebuilt ? { ...options, sinks: { ...DROP_WORKFLOW_SPANS, ...options.sinks } } : options;
  const worker = require('@temporalio/interceptors-opentelemetry/lib/worker') as typeof import('@temporalio/interceptors-opentelemetry/lib/worker');
  const attempt: ActivityInterceptorsFactory = (ctx) => ({
    inbound: new worker.OpenTelemetryActivityInboundInterceptor(ctx),
    outbound: new worker.OpenTelemetryActivityOutboundInterceptor(ctx),
  });
  return {
    ...options,
    sinks: { ...options.sinks, exporter: worker.makeWorkflowExporter(active.processor, active.resource) },
    interceptors: {
      ...options.interceptors,
      ...(!prebuilt && { workflowModules: [TRACING_WORKFLOW_INTERCEPTORS, ...(options.interceptors?.workflowModules ?? [])] }),
      activity: [attempt, runContextAttributes, ...(options.interceptors?.activity ?? [])],
    },
  };
}

/** The node attempt's span says which run, node, tenant and attempt it is (the log lines' context). */
const runContextAttributes: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const first = input.args[0] as { executionId?: unknown; nodeId?: unknown; tenantId?: unknown; priorAttempts?: unknown } | undefined;
      const span = trace.getActiveSpan();
      if (span && first && typeof first === 'object' && typeof first.executionId === 'string') {
        span.setAttributes({
          'trellis.execution_id': first.executionId,
          ...(typeof first.nodeId === 'string' && { 'trellis.node_id': first.nodeId }),
          ...(typeof first.tenantId === 'string' && { 'trellis.tenant_id': first.tenantId }),
          'trellis.attempt': (typeof first.priorAttempts === 'number' ? first.priorAttempts : 0) + ctx.info.attempt,
        });
      }
      return next(input);
    },
  },
});
