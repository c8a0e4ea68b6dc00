import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Payload } from '@temporalio/common';
import type { AppDeps } from '../deps';
import { ApiError, badRequest } from '../errors';
import { errorResponses } from '../response-schemas';

const tags = ['codec'];
/** Base64 strings, as the Temporal Web UI's codec protocol sends and expects them. */
const WirePayload = Type.Object(
  { metadata: Type.Optional(Type.Record(Type.String(), Type.String())), data: Type.Optional(Type.String()) },
  { additionalProperties: true },
);
const PayloadsBody = Type.Object({ payloads: Type.Array(WirePayload, { maxItems: 1000 }) });
type WirePayload = { metadata?: Record<string, string>; data?: string };

const fromWire = (p: WirePayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toWire = (p: Payload): WirePayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/** CORS for the Temporal Web UI's origin(s); requests from other origins get no CORS headers. */
function allowOrigin(request: FastifyRequest, reply: FastifyReply, origins: readonly string[]): void {
  const origin = request.headers.origin;
  if (!origin || !origins.includes(origin)) return;
  reply.header('access-control-allow-origin', origin);
  reply.header('access-control-allow-credentials', 'true');
  reply.header('vary', 'Origin');
}

/** Preflight: public (browsers send no credentials with it), hidden from the OpenAPI document. */
export const codecPreflightRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const origins = deps.codecCorsOrigins ?? [];
  for (const url of ['/codec/encode', '/codec/decode']) {
    app.options(url, { schema: { hide: true } }, async (request, reply) => {
      allowOrigin(request, reply, origins);
      reply.header('access-control-allow-methods', 'POST, OPTIONS');
      reply.header('access-control-allow-headers', 'authorization, content-type, x-namespace');
      reply.header('access-control-max-age', '600');
      return reply.status(204).send();
    });
  }
};

/**
 * The payload codec over HTTP (Temporal's codec-server protocol), so operators see decoded
 * data in the Temporal Web UI: point its codec endpoint at <api>/codec. Behind the API key.
 */
export const codecRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const origins = deps.codecCorsOrigins ?? [];
  const codec = () => {
    if (!deps.payloadCodec) throw new ApiError(503, 'CODEC_UNAVAILABLE', 'payload encryption is off: TRELLIS_PAYLOAD_KEY is not set on the API server');
    return deps.payloadCodec;
  };
  for (const action of ['encode', 'decode'] as const) {
    app.post(
      `/codec/${action}`,
      {
        schema: {
          tags,
          summary: action === 'encode' ? 'Encrypt payloads with the payload codec' : 'Decrypt payloads (for the Temporal Web UI)',
          body: PayloadsBody,
          response: { 200: PayloadsBody, ...errorResponses(400, 401, 413, 429, 503) },
        },
        onSend: async (request, reply) => allowOrigin(request, reply, origins),
      },
      async (request) => {
        const payloads = request.body.payloads.map(fromWire);
        try {
          const out = action === 'encode' ? await codec().encode(payloads) : await codec().decode(payloads);
          return { payloads: out.map(toWire) };
        } catch (err) {
          if (err instanceof ApiError) throw err;
          throw badRequest(`cannot ${action} payloads: ${(err as Error).message}`);
        }
      },
    );
  }
};
