import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatWorkerLog } from '../../src/dev/dev-logger';
import { DEMO_DEFAULT_BASE, startDemoTarget, withDemoBase, type DemoTarget } from '../../src/dev/demo-target';

let demo: DemoTarget;
beforeAll(async () => {
  demo = await startDemoTarget(0);
});
afterAll(async () => {
  await demo.close();
});

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${demo.baseUrl}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('demo target', () => {
  it('echoes method, path, query and a JSON body', async () => {
    const { status, body } = await call('POST', '/echo/a/b?x=1', { hello: 'world' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ method: 'POST', path: '/echo/a/b', query: { x: '1' }, body: { hello: 'world' } });
  });

  it('fails the first N calls of a flaky key, then succeeds', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call('GET', '/flaky/k1?failures=2')).status);
    expect(statuses).toEqual([503, 503, 200]);
  });

  it('answers a chosen failure status, and 500 for one out of range', async () => {
    expect((await call('GET', '/fail/429')).status).toBe(429);
    expect((await call('GET', '/fail/200')).status).toBe(500);
  });

  it('delays by the given milliseconds', async () => {
    const started = Date.now();
    const { body } = await call('GET', '/delay/150');
    expect(body.delayedMs).toBe(150);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('serves the examples fixtures and 404s an unknown GET', async () => {
    expect((await call('GET', '/orders/ord_1042')).body).toMatchObject({ total: 1250 });
    expect((await call('GET', '/regions/eu-west-1/services/checkout/health')).body).toMatchObject({ status: 'ok' });
    expect((await call('GET', '/nothing')).status).toBe(404);
  });

  it('rewrites the default base URL in sample inputs', () => {
    expect(withDemoBase({ url: `${DEMO_DEFAULT_BASE}/echo` }, 'http://127.0.0.1:9')).toEqual({ url: 'http://127.0.0.1:9/echo' });
  });
});

describe('dev log lines', () => {
  it('says a failed node in one line without its stack, unless verbose', () => {
    const error = new Error('HTTP 500 from 127.0.0.1\nmore detail');
    const entry = { message: 'Activity failed', level: 'WARN' as const, timestampNanos: 0n, meta: { error, activityId: 'fetch', activityType: 'http', attempt: 2, workflowId: 'run-1' } };
    const line = formatWorkerLog(entry, false);
    expect(line).toBe('node fetch (http) failed, attempt 2, run run-1: HTTP 500 from 127.0.0.1');
    expect(formatWorkerLog(entry, true)).toContain(error.stack!.split('\n')[1]!);
  });
});
