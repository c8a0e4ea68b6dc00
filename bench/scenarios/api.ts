import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type autocannon from 'autocannon';
import { createNodeRegistry } from '../../src/activities';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { ExecutionEventHub } from '../../src/persistence/execution-event-hub';
import { activityDone, chain, percentile, round, type BenchEnv } from '../env';

/** Benchmarks 4–6: end to end through the API, mirror lag, and the API under load. */
export async function apiScenarios(env: BenchEnv, runs: number) {
  const events = new ExecutionEventHub();
  await events.start(env.databaseUrl);
  const app = await buildApp({
    db: env.db,
    temporal: createTemporalGateway(env.client, env.taskQueue),
    catalog: createNodeRegistry().catalog(),
    events,
    // The GET load must not meet the per-address limit (6,000 a minute) either: 429s are not reads.
    limits: { rateLimitPerMinute: 100_000_000, addressRateLimitPerMinute: 100_000_000 },
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    return { endToEnd10: await endToEnd(env, base, events, Math.max(runs * 2, 10)), mirrorLag: await mirrorLag(env, events), load: await loadScenario(env, base) };
  } finally {
    await app.close();
    await events.close();
  }
}

const headers = (env: BenchEnv) => ({ authorization: `Bearer ${env.apiKey}`, 'content-type': 'application/json' });

/** POST /executions to a terminal row in Postgres for a 10-node DAG, split into API, workflow and the rest. */
async function endToEnd(env: BenchEnv, base: string, events: ExecutionEventHub, runs: number) {
  const workflowId = await env.store(chain('benchNoop', 10));
  const api: number[] = [];
  const total: number[] = [];
  const workflow: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const res = await fetch(`${base}/executions`, { method: 'POST', headers: headers(env), body: JSON.stringify({ workflowId }) });
    const { id } = (await res.json()) as { id: string };
    const t1 = performance.now();
    await new Promise<void>((resolve) => {
      const check = async () => {
        const row = await env.db.execution.findUnique({ where: { id }, select: { status: true } });
        if (row && row.status !== 'RUNNING') {
          unsubscribe();
          resolve();
        }
      };
      const unsubscribe = events.subscribe(id, () => void check());
      void check();
    });
    const t2 = performance.now();
    const handle = env.client.workflow.getHandle(id);
    await handle.result(); // the row is terminal just before the workflow closes
    const d = await handle.describe();
    api.push(t1 - t0);
    total.push(t2 - t0);
    workflow.push(d.closeTime && d.startTime ? d.closeTime.getTime() - d.startTime.getTime() : NaN);
  }
  const stats = (v: number[]) => ({ p50: round(percentile(v, 50)), p95: round(percentile(v, 95)) });
  return {
    runs,
    totalMs: stats(total),
    apiMs: stats(api),
    // Temporal's start-to-close of the workflow; it includes the final mirror drain.
    workflowMs: stats(workflow),
    note: 'total ≈ api + time until the worker picks the run up + workflow; the terminal row is committed before the workflow closes',
  };
}

/** Activity completion → its node row committed in Postgres (observed through NOTIFY, which fires on commit). */
async function mirrorLag(env: BenchEnv, events: ExecutionEventHub) {
  const workflowId = await env.store(chain('benchNoop', 20));
  const lags: number[] = [];
  for (let r = 0; r < 5; r++) {
    const id = `bench-lag-${randomUUID()}`;
    const seen = new Set<string>();
    const unsubscribe = events.subscribe(id, () => {
      const at = performance.now();
      void env.db.nodeRun.findMany({ where: { executionId: id, status: 'SUCCEEDED' }, select: { nodeId: true } }).then((rows) => {
        for (const { nodeId } of rows) {
          const done = activityDone.get(`${id}/${nodeId}`);
          if (!seen.has(nodeId) && done !== undefined) lags.push(at - done);
          seen.add(nodeId);
        }
      });
    });
    await env.client.workflow.execute('dagWorkflow', { taskQueue: env.taskQueue, workflowId: id, args: [{ workflowId }] });
    await new Promise((r) => setTimeout(r, 200));
    unsubscribe();
  }
  return { samples: lags.length, p50Ms: round(percentile(lags, 50)), p99Ms: round(percentile(lags, 99)) };
}

/**
 * The API's start rate as a ratio of the raw Temporal client's. Fair by construction:
 * - one process serves each side (the API in this process; the raw client in this process),
 *   10 requests in flight on each (autocannon's 10 keep-alive connections; 10 loops), one
 *   shared Temporal connection, the same workflow type, input and start options;
 * - phases alternate API, raw, bare, bare, raw, API (BENCH_LOAD_SECONDS each, default 5) so the
 *   load of a shared machine drifting during the run hits every side alike ("bare": the ceiling of
 *   any HTTP API on this machine, see bareStartServer);
 * - only 2xx answers count as starts (a 429 is not a start), and the bench lifts the limits a
 *   tenant starting thousands of never-finishing runs would hit: the per-key and per-address
 *   rate limits and TRELLIS_MAX_RUNNING_PER_TENANT (unless set).
 * Both start runs on a task queue no worker polls, so what is measured is starting, not the
 * runs competing with it for this machine's two cores.
 * BENCH_LOAD_CONNECTIONS (default 10) sets the requests in flight on every side. At 10 the API is
 * partly latency-bound (a closed loop: every millisecond the API adds is throughput lost); with
 * the server pinned to one core and the bench to the other (`taskset`, see docs/benchmarks.md)
 * neither core was saturated during the API's phases.
 */
export async function loadScenario(env: BenchEnv, base?: string) {
  process.env.TRELLIS_MAX_RUNNING_PER_TENANT ??= '100000000';
  const definition = { name: 'load', nodes: [{ id: 'a', type: 'noop' }] };
  const workflowId = await env.store(definition);
  const unpolled = `${env.taskQueue}-unpolled`;
  const app = await buildApp({
    db: env.db,
    temporal: createTemporalGateway(env.client, unpolled),
    catalog: createNodeRegistry().catalog(),
    limits: { rateLimitPerMinute: 100_000_000, addressRateLimitPerMinute: 100_000_000 },
  });
  const startBase = await app.listen({ host: '127.0.0.1', port: 0 });
  const bareServer = await bareStartServer(env, unpolled, workflowId, definition);
  const connections = Number(process.env.BENCH_LOAD_CONNECTIONS ?? 10);
  const seconds = Number(process.env.BENCH_LOAD_SECONDS ?? 5);
  const request = { url: `${startBase}/executions`, method: 'POST' as const, connections, headers: headers(env), body: JSON.stringify({ workflowId }) };
  try {
    // Warm-up on both sides: the key cache, JIT, connection pools.
    await loadFromAnotherProcess({ ...request, amount: 200 });
    await rawStarts(env, unpolled, workflowId, definition, connections, 0.5);

    const api: autocannon.Result[] = [];
    const raw: number[] = [];
    const bare: autocannon.Result[] = [];
    for (const side of ['api', 'raw', 'bare', 'bare', 'raw', 'api'] as const) {
      if (side === 'api') api.push(await loadFromAnotherProcess({ ...request, duration: seconds }));
      else if (side === 'bare') bare.push(await loadFromAnotherProcess({ ...request, url: bareServer.url, duration: seconds }));
      else raw.push(await rawStarts(env, unpolled, workflowId, definition, connections, seconds));
    }
    const apiStarts = api.reduce((sum, r) => sum + r['2xx'], 0);
    const rawStartsTotal = raw.reduce((sum, n) => sum + n, 0);
    const apiStartRps = apiStarts / (api.length * seconds);
    const rawStartRps = rawStartsTotal / (raw.length * seconds);
    const bareStartRps = bare.reduce((sum, r) => sum + r['2xx'], 0) / (bare.length * seconds);

    let get: autocannon.Result | undefined;
    if (base !== undefined) {
      const anyRun = await env.db.execution.findFirstOrThrow({ where: { workflowId } });
      get = await loadFromAnotherProcess({ url: `${base}/executions/${anyRun.id}`, connections, duration: seconds, headers: headers(env) });
    }
    return {
      connections,
      phases: `api, raw, bare, bare, raw, api; ${seconds} s each`,
      apiStartRps: round(apiStartRps),
      apiStartRpsByPhase: api.map((r) => round(r['2xx'] / seconds)),
      apiStartLatencyP50Ms: api[0]!.latency.p50,
      apiStartLatencyP99Ms: api[0]!.latency.p99,
      apiStartNon2xx: api.reduce((sum, r) => sum + r.non2xx, 0),
      rawClientStartRps: round(rawStartRps),
      rawClientStartRpsByPhase: raw.map((n) => round(n / seconds)),
      ratio: round(apiStartRps / rawStartRps, 3),
      // The ceiling of any HTTP API in front of the same client on this machine (see bareStartServer).
      bareHttpStartRps: round(bareStartRps),
      bareHttpRatio: round(bareStartRps / rawStartRps, 3),
      apiVsBareHttp: round(apiStartRps / bareStartRps, 3),
      ...(get && { apiGetRps: round(get['2xx'] / seconds), apiGetLatencyP50Ms: get.latency.p50, apiGetNon2xx: get.non2xx }),
    };
  } finally {
    await app.close();
    await bareServer.close();
  }
}

/**
 * The least an HTTP API can do: node:http, no framework, no key, no database, no validation —
 * read the body, start the same workflow with the raw client, answer 202. What it loses against
 * the raw client is the HTTP hop itself (the load generator's process, the server's parsing and
 * writing, one more process waking per start), so its ratio is the ceiling of the API's ratio on
 * this machine; apiVsBareHttp is what Trellis's own work (auth, limits, validation, the
 * execution row) costs on top.
 */
async function bareStartServer(env: BenchEnv, taskQueue: string, workflowId: string, definition: object) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { workflowId: string };
      const id = `bench-bare-${randomUUID()}`;
      env.client.workflow
        .start('dagWorkflow', {
          taskQueue,
          workflowId: id,
          args: [{ tenantId: env.tenantId, workflowId: body.workflowId ?? workflowId, version: 1, definition }],
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        })
        .then(
          () => res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id })),
          (err: Error) => res.writeHead(503).end(err.message),
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/executions`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * The raw Temporal client starting what the API's start sends: dagWorkflow with the same input
 * (tenant, stored workflow, version, definition) and the same id reuse policy.
 */
async function rawStarts(env: BenchEnv, taskQueue: string, workflowId: string, definition: object, concurrency: number, seconds: number): Promise<number> {
  let started = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await env.client.workflow.start('dagWorkflow', {
          taskQueue,
          workflowId: `bench-raw-${randomUUID()}`,
          args: [{ tenantId: env.tenantId, workflowId, version: 1, definition }],
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
        started++;
      }
    }),
  );
  return started;
}

/**
 * autocannon in a child process: in this process its own CPU would be taken from the API it
 * measures (the raw-client baseline runs in this process, the same as the API does).
 */
async function loadFromAnotherProcess(options: autocannon.Options): Promise<autocannon.Result> {
  const script = `require('autocannon')(${JSON.stringify(options)}).then((r) => process.stdout.write(JSON.stringify(r)))`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as autocannon.Result;
}
