import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/services/api-keys';
import { TtlCache } from '../../src/services/ttl-cache';
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
