import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A target on 127.0.0.1 for the flow-control server tests (run and node concurrency, rate
 * limits): `/slow?key=K&ms=N&tag=T` answers after N ms and tracks, per key, what is in flight.
 */
export interface KeyedTarget {
  base: string;
  inFlight: Map<string, number>;
  maxInFlight: Map<string, number>;
  /** Per key: [tag, start ms] in arrival order. */
  starts: Map<string, { tag: string; at: number }[]>;
  /** Per tag: how many times it failed on purpose (`failFirst=1` fails each tag's first request). */
  failed: Map<string, number>;
  close(): Promise<void>;
}

export async function startKeyedTarget(): Promise<KeyedTarget> {
  const inFlight = new Map<string, number>();
  const maxInFlight = new Map<string, number>();
  const starts = new Map<string, { tag: string; at: number }[]>();
  const failed = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const key = url.searchParams.get('key') ?? '';
    const tag = url.searchParams.get('tag') ?? '';
    const ms = Number(url.searchParams.get('ms') ?? 200);
    const now = (inFlight.get(key) ?? 0) + 1;
    inFlight.set(key, now);
    maxInFlight.set(key, Math.max(maxInFlight.get(key) ?? 0, now));
    starts.set(key, [...(starts.get(key) ?? []), { tag, at: Date.now() }]);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight.set(key, (inFlight.get(key) ?? 1) - 1);
    };
    res.on('close', finish);
    setTimeout(() => {
      finish();
      const failFirst = url.searchParams.get('failFirst') === '1' && !failed.has(tag);
      if (failFirst) failed.set(tag, 1);
      res.statusCode = failFirst ? 500 : 200;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ key, tag }));
    }, ms);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    inFlight,
    maxInFlight,
    starts,
    failed,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
