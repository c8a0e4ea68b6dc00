import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** The port the examples' `sampleInput` URLs name; dev mode rewrites them when the target runs elsewhere. */
export const DEMO_DEFAULT_PORT = 4100;
export const DEMO_DEFAULT_BASE = `http://127.0.0.1:${DEMO_DEFAULT_PORT}`;

export interface DemoTarget {
  baseUrl: string;
  close(): Promise<void>;
}

const ORDERS = [
  { id: 'ord_1041', status: 'open', amount: 240.5 },
  { id: 'ord_1042', status: 'open', amount: 1250 },
  { id: 'ord_1043', status: 'open', amount: 99.9 },
];
const MAX_DELAY_MS = 30_000;
const MAX_BODY = 1 << 20;

/**
 * A small HTTP service on loopback that dev mode starts so the examples (and a newcomer's own
 * first workflows) succeed offline:
 *   ANY  /echo/...                       200, echoes method, path, query, headers and body
 *   ANY  /delay/:ms                      echoes after ms milliseconds (at most 30 s)
 *   ANY  /flaky/:key?failures=N          503 for the first N calls per key (default 2), then 200
 *   ANY  /fail/:status                   answers that status (400-599) with a JSON error
 *   GET  /orders, /orders/:id            a fixed list of open orders, one order with `total`
 *   GET  /regions/:r/services/:s/health  `{ status: "ok", latencyMs }`
 *   GET  /shop/orders, POST /shop/charges  orders to map over, a charge per order
 *   POST /exports, GET /exports/:id[/files]  a job (done when first polled) and its files
 *   POST/PUT/PATCH/DELETE anything else  200 echo (webhooks, locks, deployments)
 */
export async function startDemoTarget(port = DEMO_DEFAULT_PORT, host = '127.0.0.1'): Promise<DemoTarget> {
  const flakyCalls = new Map<string, number>();
  let exportCount = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://demo');
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw || undefined;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        // not JSON: echo it as text
      }
      const echo = { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body };
      const send = (status: number, payload: unknown) => {
        if (res.writableEnded) return;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      route(req.method ?? 'GET', url, echo, send);
    });
  });

  const route = (method: string, url: URL, echo: object, send: (status: number, payload: unknown) => void) => {
    const parts = url.pathname.split('/').filter(Boolean);
    const [head, a, b, c, d] = parts;
    if (head === 'echo') return send(200, echo);
    if (head === 'delay') {
      const ms = Math.min(Math.max(Number(a) || 0, 0), MAX_DELAY_MS);
      setTimeout(() => send(200, { ...echo, delayedMs: ms }), ms).unref();
      return;
    }
    if (head === 'flaky') {
      const key = a ?? 'default';
      const failures = Number(url.searchParams.get('failures') ?? 2);
      const calls = (flakyCalls.get(key) ?? 0) + 1;
      flakyCalls.set(key, calls);
      if (flakyCalls.size > 10_000) flakyCalls.clear();
      return calls <= failures ? send(503, { error: `flaky: failing call ${calls} of ${failures}` }) : send(200, { ...echo, calls });
    }
    if (head === 'fail') {
      const status = Number(a);
      return send(status >= 400 && status <= 599 ? status : 500, { error: `demo failure ${a ?? ''}`.trim() });
    }
    // examples/map-over-orders.json: a list to map over and a charge per item.
    if (method === 'GET' && head === 'shop' && a === 'orders' && parts.length === 2) {
      return send(200, { orders: ORDERS.map((o) => ({ id: o.id, total: o.amount, currency: 'EUR' })) });
    }
    if (method === 'POST' && head === 'shop' && a === 'charges' && parts.length === 2) {
      const orderId = (echo as { body?: { orderId?: unknown } }).body?.orderId;
      return send(201, { id: `ch_${String(orderId ?? 'unknown')}`, status: 'succeeded' });
    }
    // examples/poll-until-done.json: a job that is done when first polled, and its files.
    if (method === 'POST' && head === 'exports' && parts.length === 1) return send(202, { id: `exp_${++exportCount}`, state: 'running' });
    if (method === 'GET' && head === 'exports' && a && parts.length === 2) return send(200, { id: a, state: 'done' });
    if (method === 'GET' && head === 'exports' && a && b === 'files' && parts.length === 3) {
      return send(200, { files: [{ name: `${a}.csv`, bytes: 48_213 }] });
    }
    if (method === 'GET' && head === 'orders' && parts.length === 1) return send(200, ORDERS);
    if (method === 'GET' && head === 'orders' && a && parts.length === 2) {
      const order = ORDERS.find((o) => o.id === a);
      return order ? send(200, { id: order.id, status: order.status, total: order.amount }) : send(404, { error: `no order ${a}` });
    }
    if (method === 'GET' && head === 'regions' && b === 'services' && d === 'health' && parts.length === 5) {
      return send(200, { region: a, service: c, status: 'ok', latencyMs: 20 + (a!.length * 7) % 40 });
    }
    if (method !== 'GET' && method !== 'HEAD') return send(200, echo);
    return send(404, { error: `the demo target has no ${method} ${url.pathname}` });
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    baseUrl: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An example's `sampleInput` with the demo target's default base URL pointed at where it really runs. */
export function withDemoBase<T>(value: T, baseUrl: string): T {
  if (baseUrl === DEMO_DEFAULT_BASE) return value;
  return JSON.parse(JSON.stringify(value).split(DEMO_DEFAULT_BASE).join(baseUrl)) as T;
}
