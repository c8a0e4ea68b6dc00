import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { run as trellis } from '../../src/cli/trellis';
import { createApiKey, revokeApiKey } from '../../src/services/api-keys';
import { ExecutionEventHub } from '../../src/persistence/execution-event-hub';
import { TtlCache } from '../../src/util/ttl-cache';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';
import { createTestApi, type TestApi } from '../support/api';

const CACHE_MS = 1_500;
let api: TestApi;
beforeAll(async () => {
  api = await createTestApi({ limits: { apiKeyCacheMs: CACHE_MS } });
});
afterAll(async () => api?.close());

describe('API-key lookup cache', () => {
  it('a revoked key stops working within apiKeyCacheMs, not before the cached lookup expires', async () => {
    const { key } = await createApiKey(api.database.db, 'acme', 'short-lived');
    const get = () => api.app.inject({ method: 'GET', url: '/workflows', headers: { authorization: `Bearer ${key}` } });
    expect((await get()).statusCode).toBe(200);
    const revokedAt = Date.now();
    await api.database.db.apiKey.updateMany({ where: { name: 'short-lived' }, data: { revokedAt: new Date() } });
    const soon = await get();
    // Still inside the bound: the cached lookup answers (this is the documented revocation delay).
    if (Date.now() - revokedAt < CACHE_MS - 200) expect(soon.statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, CACHE_MS + 100));
    expect((await get()).statusCode).toBe(401);
  });

  it('shares one lookup between concurrent misses and bounds its size', async () => {
    let loads = 0;
    const cache = new TtlCache<number>(60_000, 2);
    const load = async () => (await new Promise((r) => setTimeout(r, 10)), ++loads);
    expect(await Promise.all([cache.get('a', load), cache.get('a', load), cache.get('a', load)])).toEqual([1, 1, 1]);
    await cache.get('b', load);
    await cache.get('c', load); // evicts "a", the oldest
    expect(await cache.get('a', load)).toBe(4);
    expect(loads).toBe(4);
  });

  it('an unknown key is answered 401 from the cache as from the lookup, and a cached key on the synchronous path', async () => {
    const get = (key: string) => api.app.inject({ method: 'GET', url: '/workflows', headers: { authorization: `Bearer ${key}` } });
    for (let i = 0; i < 2; i++) {
      const res = await get('trl_not-a-key');
      expect(res.statusCode).toBe(401);
      expect(res.json().error.message).toBe('invalid API key');
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
    const missing = await api.app.inject({ method: 'GET', url: '/workflows' });
    expect(missing.statusCode).toBe(401);
    expect(missing.json().error.message).toMatch(/missing/);
    const { key } = await createApiKey(api.database.db, 'acme', 'cached');
    for (let i = 0; i < 2; i++) expect((await get(key)).statusCode).toBe(200);
  });

  it('peeks only at live entries, a cached undefined included', async () => {
    let now = 0;
    const cache = new TtlCache<string | undefined>(100, 10, () => now);
    expect(cache.peek('k')).toBeUndefined();
    await cache.get('k', async () => undefined);
    expect(cache.peek('k')).toHaveProperty('value', undefined);
    now = 100;
    expect(cache.peek('k')).toBeUndefined();
  });

  it('does not cache a failed lookup', async () => {
    const cache = new TtlCache<string>(60_000);
    await expect(cache.get('k', () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
    expect(await cache.get('k', async () => 'ok')).toBe('ok');
  });
});

describe('revocation on every replica', () => {
  /** Two API processes on one database, each with its own LISTEN connection, caching keys for a minute. */
  async function replicas(n: number): Promise<{ apps: FastifyInstance[]; hubs: ExecutionEventHub[]; close(): Promise<void> }> {
    const hubs: ExecutionEventHub[] = [];
    const apps: FastifyInstance[] = [];
    for (let i = 0; i < n; i++) {
      const hub = new ExecutionEventHub({ minBackoffMs: 20, maxBackoffMs: 50 });
      await hub.start(api.database.url);
      hubs.push(hub);
      const app = await buildApp({ db: api.database.db, events: hub, temporal: new FakeTemporalGateway(), catalog: createNodeRegistry().catalog(), limits: { apiKeyCacheMs: 60_000 } });
      await app.ready();
      apps.push(app);
    }
    return {
      apps,
      hubs,
      async close() {
        for (const app of apps) await app.close();
        for (const hub of hubs) await hub.close();
      },
    };
  }
  const get = (app: FastifyInstance, key: string) => app.inject({ method: 'GET', url: '/workflows', headers: { authorization: `Bearer ${key}` } });
  /** The first status other than 200 within `ms`, polling; how long it took. */
  async function refusedWithin(app: FastifyInstance, key: string, ms: number): Promise<{ status: number; afterMs: number }> {
    const start = performance.now();
    let status = 200;
    while (status === 200 && performance.now() - start < ms) {
      status = (await get(app, key)).statusCode;
      if (status === 200) await new Promise((r) => setTimeout(r, 10));
    }
    return { status, afterMs: performance.now() - start };
  }

  it('a key revoked with `trellis apikey revoke` is refused by every API process as soon as the notice lands, not when the cache expires', async () => {
    const { apps, close } = await replicas(2);
    try {
      const { key, keyId } = await createApiKey(api.database.db, 'acme', 'replicated');
      // Both processes have the key cached (the second request answers from the cache).
      for (const app of apps) for (let i = 0; i < 2; i++) expect((await get(app, key)).statusCode).toBe(200);
      const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
      let code: number;
      try {
        code = await trellis(['apikey', 'revoke', '--tenant', 'acme', '--id', keyId], { DATABASE_URL: api.database.url });
      } finally {
        stdout.mockRestore();
      }
      expect(code).toBe(0);
      for (const app of apps) {
        const refused = await refusedWithin(app, key, 500);
        expect(refused.status, `refused after ${refused.afterMs.toFixed(0)} ms`).toBe(401);
      }
      // Another key of the tenant is untouched.
      const { key: other } = await createApiKey(api.database.db, 'acme', 'kept');
      for (const app of apps) expect((await get(app, other)).statusCode).toBe(200);
    } finally {
      await close();
    }
  });

  it('caches nothing while the LISTEN connection is down, and flushes when it drops and returns', async () => {
    const { apps, hubs, close } = await replicas(1);
    try {
      const app = apps[0]!;
      const { key, keyId } = await createApiKey(api.database.db, 'acme', 'while-down');
      expect((await get(app, key)).statusCode).toBe(200); // cached now
      // Sever the hub's connection from the server side: the notice of the revocation below is lost.
      await api.database.db.$executeRawUnsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'trellis-events' AND datname = current_database()`);
      await vi.waitUntil(() => !hubs[0]!.connected, { timeout: 2_000, interval: 5 });
      expect(await revokeApiKey(api.database.db, 'acme', keyId)).toBe(true);
      // Whether the hub is still down (no caching) or back (flushed on reconnect), the key is refused.
      expect((await get(app, key)).statusCode).toBe(401);
      await vi.waitUntil(() => hubs[0]!.connected, { timeout: 2_000, interval: 10 });
      expect((await get(app, key)).statusCode).toBe(401);
      // Back up: revocations are heard again.
      const { key: next, keyId: nextId } = await createApiKey(api.database.db, 'acme', 'after-reconnect');
      for (let i = 0; i < 2; i++) expect((await get(app, next)).statusCode).toBe(200);
      expect(await revokeApiKey(api.database.db, 'acme', nextId)).toBe(true);
      expect((await refusedWithin(app, next, 500)).status).toBe(401);
    } finally {
      await close();
    }
  });

  it('a lookup in flight when its key is dropped is not cached, and clear forgets everything', async () => {
    const cache = new TtlCache<string>(60_000);
    let release!: (v: string) => void;
    const pending = cache.get('k', () => new Promise<string>((r) => (release = r)));
    cache.delete('k');
    release('stale');
    expect(await pending).toBe('stale');
    expect(cache.peek('k')).toBeUndefined();
    await cache.get('a', async () => 'x');
    cache.clear();
    expect(cache.peek('a')).toBeUndefined();
    // cache: false loads and stores nothing, and ignores a live entry.
    await cache.get('b', async () => 'old');
    expect(await cache.get('b', async () => 'new', false)).toBe('new');
    expect(cache.peek('b')?.value).toBe('old');
  });
});
