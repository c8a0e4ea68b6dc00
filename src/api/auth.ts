import fp from 'fastify-plugin';
import type { FastifyPluginAsync } from 'fastify';
import type { Db } from '../db/client';
import { authenticate, hashSecret, type Principal } from '../services/api-keys';
import { TtlCache } from '../services/ttl-cache';
import { ApiError } from './errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route inside the authenticated scope. */
    tenantId: string;
    /** The API key that authenticated the request, with its tenant's limits. */
    principal: Principal;
  }
}

/**
 * `Authorization: Bearer <api key>` on every route of the scope it is registered in; the key's
 * tenant scopes every query the routes make. Lookups (unknown keys too) are cached for `cacheMs`,
 * keyed by the key's hash: revoking a key takes effect within that bound.
 */
const plugin: FastifyPluginAsync<{ db: Db; cacheMs?: number }> = async (app, { db, cacheMs = 0 }) => {
  const keys = new TtlCache<Principal | undefined>(cacheMs);
  app.decorateRequest('tenantId', '');
  app.decorateRequest('principal', undefined as unknown as Principal);
  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization;
    const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
    const principal = match ? await keys.get(hashSecret(match[1]!), () => authenticate(db, match[1]!)) : undefined;
    if (!principal) {
      reply.header('www-authenticate', 'Bearer');
      throw new ApiError(401, 'UNAUTHORIZED', match ? 'invalid API key' : 'missing "Authorization: Bearer <api key>" header');
    }
    request.tenantId = principal.tenantId;
    request.principal = principal;
  });
};

// fastify-plugin 6 cannot type an inline async plugin's parameters, hence the named function.
export const bearerAuth = fp(plugin);
