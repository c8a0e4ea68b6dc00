/**
 * The workflow side of tracing (observability/tracing.ts): a workflow interceptor module built
 * from @temporalio/interceptors-opentelemetry's pieces (its span helpers, sandbox context
 * manager and sink exporter), giving the same spans as its own module: RunWorkflow (child of
 * the starter's span from the start's headers), HandleSignal, StartActivity (local activities
 * too), StartChildWorkflow, SignalExternalWorkflow and ContinueAsNew, each passing the trace
 * context on in the headers of what it starts.
 *
 * Why not the package's module as is: it adds `await Promise.resolve()` before each command
 * unless the SDK flag OpenTelemetryInterceporsAvoidsExtraYields is known for the workflow task,
 * and on replay that is known only from the history's sdkMetadata, which a Temporal server
 * before 1.20 (the 1.19 development server here) does not keep. Replayed there, a traced run
 * issued its commands in another order (an activity after a timer) and failed nondeterministic.
 * This module never yields before a command, so traced and untraced histories replay alike
 * on any server (test/workflows/replay-traced.test.ts).
 */
import '@temporalio/interceptors-opentelemetry/lib/workflow/runtime'; // globals OpenTelemetry needs in the sandbox
import * as otel from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { extractContextFromHeaders, headersWithContext, instrument } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import { ContextManager } from '@temporalio/interceptors-opentelemetry/lib/workflow/context-manager';
import { SpanExporter } from '@temporalio/interceptors-opentelemetry/lib/workflow/span-exporter';
import { SpanName, SPAN_DELIMITER } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions';
import { ContinueAsNew, workflowInfo, type WorkflowInterceptors, type WorkflowInterceptorsFactory } from '@temporalio/workflow';

let tracer: otel.Tracer | undefined;
let contextManager: ContextManager | undefined;

/** One tracer per workflow context; its spans leave through the worker's `exporter` sink. */
function workflowTracer(): otel.Tracer {
  if (!tracer) {
    contextManager = new ContextManager();
    const provider = new BasicTracerProvider();
    provider.addSpanProcessor(new SimpleSpanProcessor(new SpanExporter()));
    provider.register({ contextManager });
    tracer = provider.getTracer('@temporalio/interceptor-workflow');
  }
  return tracer;
}

const named = (kind: string, name: string) => `${kind}${SPAN_DELIMITER}${name}`;

export const interceptors: WorkflowInterceptorsFactory = (): WorkflowInterceptors => {
  const t = workflowTracer();
  return {
    inbound: [
      {
        execute: (input, next) =>
          instrument({
            tracer: t,
            spanName: named(SpanName.WORKFLOW_EXECUTE, workflowInfo().workflowType),
            fn: () => next(input),
            context: extractContextFromHeaders(input.headers),
            acceptableErrors: (err) => err instanceof ContinueAsNew,
          }),
        handleSignal: (input, next) =>
          instrument({ tracer: t, spanName: named(SpanName.WORKFLOW_HANDLE_SIGNAL, input.signalName), fn: () => next(input), context: extractContextFromHeaders(input.headers) }),
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) =>
          instrument({ tracer: t, spanName: named(SpanName.ACTIVITY_START, input.activityType), fn: async () => next({ ...input, headers: headersWithContext(input.headers) }) }),
        scheduleLocalActivity: (input, next) =>
          instrument({ tracer: t, spanName: named(SpanName.ACTIVITY_START, input.activityType), fn: async () => next({ ...input, headers: headersWithContext(input.headers) }) }),
        startChildWorkflowExecution: (input, next) =>
          instrument({ tracer: t, spanName: named(SpanName.CHILD_WORKFLOW_START, input.workflowType), fn: async () => next({ ...input, headers: headersWithContext(input.headers) }) }),
        signalWorkflow: (input, next) =>
          instrument({ tracer: t, spanName: named(SpanName.WORKFLOW_SIGNAL, input.signalName), fn: async () => next({ ...input, headers: headersWithContext(input.headers) }) }),
        continueAsNew: (input, next) =>
          instrument({
            tracer: t,
            spanName: named(SpanName.CONTINUE_AS_NEW, input.options.workflowType),
            fn: async () => next({ ...input, headers: headersWithContext(input.headers) }),
            acceptableErrors: (err) => err instanceof ContinueAsNew,
          }),
        getLogAttributes(input, next) {
          const span = otel.trace.getSpan(otel.context.active())?.spanContext();
          return next(span && otel.isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId, ...input } : input);
        },
      },
    ],
    internals: [
      {
        dispose(input, next) {
          contextManager?.disable();
          next(input);
        },
      },
    ],
  };
};
