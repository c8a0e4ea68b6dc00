import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as OTLP/JSON carries it (ids hex), with its resource's service.name. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string; attributes: Record<string, unknown> }[];
  service: string;
}

export interface OtlpReceiver {
  /** OTEL_EXPORTER_OTLP_ENDPOINT for it. */
  endpoint: string;
  /** Every POST /v1/traces: its content type and raw body. */
  posts: { contentType: string; body: Buffer }[];
  /** The spans of every http/json post so far. */
  spans(): ReceivedSpan[];
  close(): Promise<void>;
}

interface JsonValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface JsonSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: JsonValue }[];
  links?: { traceId: string; spanId: string; attributes?: { key: string; value: JsonValue }[] }[];
}
interface JsonExport {
  resourceSpans: { resource?: { attributes?: { key: string; value: JsonValue }[] }; scopeSpans: { spans: JsonSpan[] }[] }[];
}

function attributeMap(list: { key: string; value: JsonValue }[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list) out[key] = value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue;
  return out;
}

/** Decodes one OTLP/JSON ExportTraceServiceRequest. */
export function decodeJsonExport(body: Buffer): ReceivedSpan[] {
  const parsed = JSON.parse(body.toString('utf8')) as JsonExport;
  return parsed.resourceSpans.flatMap((rs) => {
    const service = String(attributeMap(rs.resource?.attributes)['service.name'] ?? '');
    return rs.scopeSpans.flatMap((ss) =>
      ss.spans.map((s) => ({
        traceId: s.traceId,
        spanId: s.spanId,
        ...(s.parentSpanId && { parentSpanId: s.parentSpanId }),
        name: s.name,
        kind: s.kind,
        attributes: attributeMap(s.attributes),
        links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: attributeMap(l.attributes) })),
        service,
      })),
    );
  });
}

/** A loopback OTLP/HTTP collector: answers every POST /v1/traces with 200 and keeps what came. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const posts: OtlpReceiver['posts'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') posts.push({ contentType: String(req.headers['content-type'] ?? ''), body: Buffer.concat(chunks) });
      const json = String(req.headers['content-type'] ?? '').includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    spans: () => posts.filter((p) => p.contentType.includes('json')).flatMap((p) => decodeJsonExport(p.body)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
