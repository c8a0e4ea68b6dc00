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

  it('does not cache a failed lookup', async () => {
    const cache = new TtlCache<string>(60_000);
    await expect(cache.get('k', () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
    expect(await cache.get('k', async () => 'ok')).toBe('ok');
  });
});
