import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Payload } from '@temporalio/common';
import { AesGcmPayloadCodec } from '../../crypto/payload-codec';
import type { AppDeps } from '../deps';
import { ApiError, badRequest } from '../errors';
import { errorResponses } from '../schemas';
import { tenantForKey } from '../../services/api-keys';

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

/** The cookie POST /codec/session sets: the Temporal Web UI cannot send an Authorization header. */
export const CODEC_COOKIE = 'trellis_codec_key';
const SESSION_SECONDS = 12 * 3600;

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

/**
 * The payload codec over HTTP (Temporal's codec-server protocol), so operators see decoded data
 * in the Temporal Web UI: point its codec endpoint at <api>/codec. Authenticated by an API key,
 * as a Bearer header or (for the UI, which sends credentials but no header) the HttpOnly cookie
 * POST /codec/session sets; CORS only for the UI's origin(s). Preflights are public. Per tenant
 * (DESIGN.md §8): /codec/encode seals for the key's tenant, /codec/decode opens only payloads
 * sealed for it and returns every other payload (another tenant's, the platform's, one written
 * before payloads were per tenant) unchanged, still encrypted.
 */
export const codecRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const origins = deps.codecCorsOrigins ?? [];
  /** The tenant of each authenticated request (this scope has no bearerAuth decoration). */
  const callers = new WeakMap<FastifyRequest, string>();
  const callerOf = (request: FastifyRequest): string => {
    const tenantId = callers.get(request);
    if (tenantId === undefined) throw new ApiError(401, 'UNAUTHORIZED', 'missing API key');
    return tenantId;
  };
  app.addHook('onRequest', async (request, reply) => {
    allowOrigin(request, reply, origins);
    if (request.method === 'OPTIONS') return;
    const header = request.headers.authorization;
    const bearer = header?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    const key = header === undefined ? cookie(request.headers.cookie, CODEC_COOKIE) : bearer;
    const tenantId = key ? await tenantForKey(deps.db, key) : undefined;
    if (!tenantId) {
      reply.header('www-authenticate', 'Bearer');
      throw new ApiError(401, 'UNAUTHORIZED', key ? 'invalid API key' : 'missing "Authorization: Bearer <api key>" header or codec session cookie');
    }
    callers.set(request, tenantId);
  });

  for (const url of ['/codec/encode', '/codec/decode', '/codec/session']) {
    app.options(url, { schema: { hide: true } }, async (_request, reply) => {
      reply.header('access-control-allow-methods', 'POST, OPTIONS');
      reply.header('access-control-allow-headers', 'authorization, content-type, x-namespace');
      reply.header('access-control-max-age', '600');
      return reply.status(204).send();
    });
  }

  app.post(
    '/codec/session',
    {
      schema: {
        operationId: 'createCodecSession',
        tags,
        summary: 'Set the codec cookie in this browser, so the Temporal Web UI can call /codec/* (12 h)',
        response: { 204: Type.Null(), ...errorResponses(400, 401, 413, 429) },
      },
    },
    async (request, reply) => {
      const key = request.headers.authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1] ?? '';
      const secure = request.protocol === 'https' ? '; Secure' : '';
      reply.header('set-cookie', `${CODEC_COOKIE}=${encodeURIComponent(key)}; Path=/codec; HttpOnly; SameSite=Strict; Max-Age=${SESSION_SECONDS}${secure}`);
      return reply.status(204).send(null);
    },
  );

  const codec = () => {
    if (!deps.payloadCodec) throw new ApiError(503, 'CODEC_UNAVAILABLE', 'payload encryption is off: TRELLIS_PAYLOAD_KEY is not set on the API server');
    // Only Trellis's codec knows tenants; any other would open every tenant's payloads for anyone.
    if (!(deps.payloadCodec instanceof AesGcmPayloadCodec)) throw new ApiError(503, 'CODEC_UNAVAILABLE', 'the configured payload codec is not per tenant');
    return deps.payloadCodec;
  };
  for (const action of ['encode', 'decode'] as const) {
    app.post(
      `/codec/${action}`,
      {
        schema: {
          operationId: action === 'encode' ? 'encodePayloads' : 'decodePayloads',
          tags,
          summary:
            action === 'encode'
              ? "Encrypt payloads for the caller's tenant"
              : "Decrypt the caller's tenant's payloads (for the Temporal Web UI); every other payload comes back unchanged",
          body: PayloadsBody,
          response: { 200: PayloadsBody, ...errorResponses(400, 401, 413, 429, 503) },
        },
      },
      async (request) => {
        const payloads = request.body.payloads.map(fromWire);
        try {
          const out = action === 'encode' ? await codec().encodeForTenant(payloads, callerOf(request)) : await codec().decodeForTenant(payloads, callerOf(request));
          return { payloads: out.map(toWire) };
        } catch (err) {
          if (err instanceof ApiError) throw err;
          throw badRequest(`cannot ${action} payloads: ${(err as Error).message}`);
        }
      },
    );
  }
};
