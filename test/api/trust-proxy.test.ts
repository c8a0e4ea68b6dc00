import { describe, expect, it } from 'vitest';
import { createTestApi } from '../support/api';

/** DESIGN §7: behind a load balancer, TRELLIS_TRUST_PROXY decides which X-Forwarded-For is believed. */
describe('TRELLIS_TRUST_PROXY', () => {
  const burst = async (api: Awaited<ReturnType<typeof createTestApi>>, forwardedFor: string, n: number, remoteAddress = '10.0.0.5') => {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) {
      const res = await api.app.inject({ method: 'GET', url: '/workflows', remoteAddress, headers: { 'x-forwarded-for': forwardedFor, authorization: 'Bearer trl_guess' } });
      statuses.push(res.statusCode);
    }
    return statuses;
  };

  it('untrusted (the default): every client behind the balancer shares its address bucket, and the header cannot pick one', async () => {
    const api = await createTestApi({ limits: { addressRateLimitPerMinute: 2 } });
    try {
      expect(await burst(api, '198.51.100.1', 2)).toEqual([401, 401]);
      expect(await burst(api, '198.51.100.2', 1)).toEqual([429]);
    } finally {
      await api.close();
    }
  });

  it('a hop count or the proxy CIDR: each client behind the balancer gets its own bucket', async () => {
    for (const trustProxy of [1, ['10.0.0.0/8']] as const) {
      const api = await createTestApi({ limits: { addressRateLimitPerMinute: 2 }, trustProxy });
      try {
        expect(await burst(api, '198.51.100.1', 3)).toEqual([401, 401, 429]);
        expect(await burst(api, '198.51.100.2', 2)).toEqual([401, 401]);
        // A client cannot forge its way to a new bucket past the trusted hop: the last hop is what counts.
        expect(await burst(api, '203.0.113.9, 198.51.100.1', 1)).toEqual([429]);
      } finally {
        await api.close();
      }
    }
  });

  it('a CIDR list that does not include the sender: the header is ignored', async () => {
    const api = await createTestApi({ limits: { addressRateLimitPerMinute: 1 }, trustProxy: ['192.168.0.0/16'] });
    try {
      expect(await burst(api, '198.51.100.1', 1)).toEqual([401]);
      expect(await burst(api, '198.51.100.2', 1)).toEqual([429]);
    } finally {
      await api.close();
    }
  });
});

describe('/metrics behind a proxy', () => {
  it('a request through a local reverse proxy (forwarding headers) is refused without the token, even from loopback', async () => {
    const api = await createTestApi({ trustProxy: true });
    try {
      expect((await api.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
      const proxied = await api.app.inject({ method: 'GET', url: '/metrics', headers: { 'x-forwarded-for': '203.0.113.7' } });
      expect(proxied.statusCode).toBe(403);
      // A forged loopback X-Forwarded-For from a remote socket does not get in either.
      const forged = await api.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.7', headers: { 'x-forwarded-for': '127.0.0.1' } });
      expect(forged.statusCode).toBe(403);
    } finally {
      await api.close();
    }
  });

  it('with a metrics token, the token decides wherever the request comes from', async () => {
    const api = await createTestApi({ trustProxy: true, metricsToken: 'scrape-token' });
    try {
      const ok = await api.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.7', headers: { 'x-forwarded-for': '198.51.100.1', authorization: 'Bearer scrape-token' } });
      expect(ok.statusCode).toBe(200);
      expect((await api.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(403);
    } finally {
      await api.close();
    }
  });
});
