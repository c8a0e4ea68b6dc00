import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, trace } from '@opentelemetry/api';
import { ConfigError, loadConfig } from '../../src/config';
import { keyValues, startTracing, tracingSettings } from '../../src/observability/tracing';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver';

const nodeRequire = createRequire(__filename);
const settingsOf = (env: Record<string, string>, role: 'api' | 'worker' | 'dev' = 'api') => tracingSettings(loadConfig(env), role);

describe('tracing settings (OTEL_*)', () => {
  it('is off unless an exporter or an OTLP endpoint is set, and off with none whatever else is set', () => {
    expect(settingsOf({})).toBeUndefined();
    expect(settingsOf({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBeUndefined();
    expect(settingsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toMatchObject({ exporter: 'otlp', url: 'http://collector:4318/v1/traces', protocol: 'http/protobuf' });
    expect(settingsOf({ OTEL_TRACES_EXPORTER: 'otlp' })).toMatchObject({ url: 'http://localhost:4318/v1/traces' });
    expect(settingsOf({ OTEL_TRACES_EXPORTER: 'console' })).toMatchObject({ exporter: 'console' });
  });

  it('takes the traces endpoint as given, the protocol, headers, service name and resource attributes', () => {
    const settings = settingsOf(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc%3D,tenant = ops',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod',
      },
      'worker',
    );
    expect(settings).toEqual({
      exporter: 'otlp',
      url: 'https://traces.example/otlp',
      protocol: 'http/json',
      headers: { 'x-api-key': 'abc=', tenant: 'ops' },
      serviceName: 'trellis-worker',
      resourceAttributes: { 'deployment.environment': 'prod' },
      sampler: { name: 'parentbased_always_on', ratio: 1 },
    });
    expect(settingsOf({ OTEL_TRACES_EXPORTER: 'otlp' }, 'dev')?.serviceName).toBe('trellis-dev');
    expect(settingsOf({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'trellis-api-eu' })?.serviceName).toBe('trellis-api-eu');
  });

  it('refuses what it cannot do, naming the variable', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(ConfigError);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL must be one of http\/protobuf, http\/json/);
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: 'jaeger' })).toThrow(/OTEL_TRACES_EXPORTER must be one of otlp, console, none/);
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT must be a URL/);
  });

  it('parses key=value lists, skipping what is no pair', () => {
    expect(keyValues('a=1,,b,=2,c=x=y')).toEqual({ a: '1', c: 'x=y' });
    expect(keyValues(undefined)).toEqual({});
  });
});

describe('startTracing', () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
  });
  afterAll(() => receiver.close());

  it('loads nothing of the SDK when off', () => {
    expect(startTracing(loadConfig({}), 'api')).toBeUndefined();
    const loaded = Object.keys(nodeRequire.cache).filter((file) => /@opentelemetry[\\/](sdk-trace|exporter-|instrumentation)/.test(file));
    expect(loaded).toEqual([]);
  });

  it('exports http/protobuf to the OTLP endpoint', async () => {
    const tracing = startTracing(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint }), 'worker')!;
    try {
      expect(tracing.settings.protocol).toBe('http/protobuf');
      // (the check above is not vacuous: on, the SDK is in the same module cache)
      expect(Object.keys(nodeRequire.cache).some((file) => /@opentelemetry[\\/]sdk-trace-node/.test(file))).toBe(true);
      const traceId = trace.getTracer('test').startActiveSpan('probe', (span) => {
        span.end();
        return span.spanContext().traceId;
      });
      await tracing.flush();
      expect(receiver.posts.length).toBeGreaterThan(0);
      const post = receiver.posts.at(-1)!;
      expect(post.contentType).toBe('application/x-protobuf');
      // Decoded with the OTLP schema the exporter itself is generated from.
      const { opentelemetry } = nodeRequire('@opentelemetry/otlp-transformer/build/src/generated/root') as {
        opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: { decode(b: Uint8Array): { toJSON(): unknown } } } } } } };
      };
      const decoded = opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest.decode(post.body).toJSON() as {
        resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { name: string; traceId: string }[] }[] }[];
      };
      const [resourceSpans] = decoded.resourceSpans;
      expect(resourceSpans!.resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'trellis-worker' } });
      const span = resourceSpans!.scopeSpans[0]!.spans[0]!;
      expect(span.name).toBe('probe');
      expect(Buffer.from(span.traceId, 'base64').toString('hex')).toBe(traceId);
    } finally {
      await tracing.shutdown();
    }
    // Shut down: the global API is a no-op again.
    expect(trace.getTracer('test').startSpan('after').isRecording()).toBe(false);
  });

  it('samples as OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG say, read through the config', async () => {
    expect(settingsOf({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })?.sampler).toEqual({ name: 'parentbased_traceidratio', ratio: 0.25 });
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: '1.5' })).toThrow(/OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1/);
    expect(() => loadConfig({ OTEL_TRACES_SAMPLER: 'jaeger_remote' })).toThrow(/OTEL_TRACES_SAMPLER must be one of/);
    // Ratio 0: a trace this process starts is not recorded; a caller's sampled flag is still followed.
    const config = loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
    const tracing = startTracing(config, 'api')!;
    const before = receiver.spans().length;
    try {
      const tracer = trace.getTracer('test');
      const roots = Array.from({ length: 20 }, (_, i) => tracer.startSpan(`root-${i}`));
      expect(roots.map((span) => span.isRecording())).toEqual(roots.map(() => false));
      for (const span of roots) span.end();
      const sampledParent = trace.setSpanContext(context.active(), { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1, isRemote: true });
      tracer.startSpan('child-of-sampled', {}, sampledParent).end();
      await tracing.flush();
    } finally {
      await tracing.shutdown();
    }
    expect(receiver.spans().slice(before).map((span) => span.name)).toEqual(['child-of-sampled']);
  });
});
