import fp from 'fastify-plugin';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
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
  /** Sets the request's principal, or answers why there is none (401). */
  const admit = (request: FastifyRequest, reply: FastifyReply, principal: Principal | undefined, presented: boolean): ApiError | undefined => {
    if (!principal) {
      reply.header('www-authenticate', 'Bearer');
      return new ApiError(401, 'UNAUTHORIZED', presented ? 'invalid API key' : 'missing "Authorization: Bearer <api key>" header');
    }
    request.tenantId = principal.tenantId;
    request.principal = principal;
    return undefined;
  };
  // Callback style: a cached key (nearly every request) is checked without creating a promise.
  app.addHook('onRequest', (request, reply, done) => {
    const secret = request.headers.authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    if (secret === undefined) return done(admit(request, reply, undefined, false));
    const keyHash = hashSecret(secret);
    const cached = keys.peek(keyHash);
    if (cached) return done(admit(request, reply, cached.value, true));
    keys.get(keyHash, () => authenticate(db, secret)).then((principal) => done(admit(request, reply, principal, true)), done);
  });
};

// fastify-plugin 6 cannot type an inline async plugin's parameters, hence the named function.
export const bearerAuth = fp(plugin);
