import fp from 'fastify-plugin';
import type { FastifyPluginAsync } from 'fastify';
import type { Db } from '../db/client';
import { hashSecret, tenantForKey } from '../services/api-keys';
import { TtlCache } from '../services/ttl-cache';
import { ApiError } from './errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route inside the authenticated scope. */
    tenantId: string;
  }
}

/**
 * `Authorization: Bearer <api key>` on every route of the scope it is registered in; the key's
 * tenant scopes every query the routes make. Lookups (unknown keys too) are cached for `cacheMs`,
 * keyed by the key's hash: revoking a key takes effect within that bound.
 */
const plugin: FastifyPluginAsync<{ db: Db; cacheMs?: number }> = async (app, { db, cacheMs = 0 }) => {
  const keys = new TtlCache<string | undefined>(cacheMs);
  app.decorateRequest('tenantId', '');
  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization;
    const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
    const tenantId = match ? await keys.get(hashSecret(match[1]!), () => tenantForKey(db, match[1]!)) : undefined;
    if (!tenantId) {
      reply.header('www-authenticate', 'Bearer');
      throw new ApiError(401, 'UNAUTHORIZED', match ? 'invalid API key' : 'missing "Authorization: Bearer <api key>" header');
    }
    request.tenantId = tenantId;
  });
};

// fastify-plugin 6 cannot type an inline async plugin's parameters, hence the named function.
export const bearerAuth = fp(plugin);
