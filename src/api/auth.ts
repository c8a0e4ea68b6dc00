import fp from 'fastify-plugin';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/client';
import { authenticate, hashSecret, type Principal } from '../services/api-keys';
import { TtlCache } from '../util/ttl-cache';
import { ApiError } from './errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route inside the authenticated scope. */
    tenantId: string;
    /** The API key that authenticated the request, with its tenant's limits. */
    principal: Principal;
  }
}

/** Where revocations from every process are heard: the API process's LISTEN connection (the event hub). */
export interface KeyRevocations {
  /** Whether revocations are heard right now; while not, no lookup is cached. */
  readonly connected: boolean;
  /** A key hash revoked somewhere, or undefined for "some may have been missed". */
  onApiKeyRevoked(listener: (keyHash: string | undefined) => void): () => void;
}

/**
 * `Authorization: Bearer <api key>` on every route of the scope it is registered in; the key's
 * tenant scopes every query the routes make. Lookups (unknown keys too) are cached for `cacheMs`,
 * keyed by the key's hash. With `revocations`, a revoked key's entry is dropped when the notice
 * arrives (every replica, at once), nothing is cached while notices cannot arrive, and the cache
 * is flushed when the LISTEN connection drops or returns; without it (tests, tools) revoking a
 * key takes effect within `cacheMs`.
 */
const plugin: FastifyPluginAsync<{ db: Db; cacheMs?: number; revocations?: KeyRevocations }> = async (app, { db, cacheMs = 0, revocations }) => {
  const keys = new TtlCache<Principal | undefined>(cacheMs);
  if (revocations) {
    const stop = revocations.onApiKeyRevoked((keyHash) => (keyHash === undefined ? keys.clear() : keys.delete(keyHash)));
    app.addHook('onClose', (_app, done) => {
      stop();
      done();
    });
  }
  const caching = () => revocations?.connected ?? true;
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
    const cache = caching();
    const cached = cache ? keys.peek(keyHash) : undefined;
    if (cached) return done(admit(request, reply, cached.value, true));
    keys.get(keyHash, () => authenticate(db, secret), cache).then((principal) => done(admit(request, reply, principal, true)), done);
  });
};

// fastify-plugin 6 cannot type an inline async plugin's parameters, hence the named function.
export const bearerAuth = fp(plugin);
