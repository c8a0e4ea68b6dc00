import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type autocannon from 'autocannon';
import { createNodeRegistry } from '../../src/activities';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { ExecutionEventHub } from '../../src/services/execution-events';
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
    limits: { rateLimitPerMinute: 1_000_000 },
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  try {
    return { endToEnd10: await endToEnd(env, base, events, Math.max(runs * 2, 10)), mirrorLag: await mirrorLag(env, events), load: await load(env, base) };
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

/** The API's start rate as a ratio of the raw Temporal client's, same concurrency and duration. */
/**
 * The API's start rate as a ratio of the raw Temporal client's, same concurrency and duration.
 * Both start runs on a task queue no worker polls, so what is measured is starting, not the
 * runs competing with it for this machine's two cores.
 */
async function load(env: BenchEnv, base: string) {
  const definition = { name: 'load', nodes: [{ id: 'a', type: 'noop' }] };
  const workflowId = await env.store(definition);
  const unpolled = `${env.taskQueue}-unpolled`;
  const app = await buildApp({
    db: env.db,
    temporal: createTemporalGateway(env.client, unpolled),
    catalog: createNodeRegistry().catalog(),
    limits: { rateLimitPerMinute: 1_000_000 },
  });
  const startBase = await app.listen({ host: '127.0.0.1', port: 0 });
  const connections = 10;
  const duration = 10;
  try {
    const start = await loadFromAnotherProcess({
      url: `${startBase}/executions`,
      method: 'POST',
      connections,
      duration,
      headers: headers(env),
      body: JSON.stringify({ workflowId }),
    });
    const anyRun = await env.db.execution.findFirstOrThrow({ where: { workflowId } });
    const get = await loadFromAnotherProcess({ url: `${base}/executions/${anyRun.id}`, connections, duration, headers: headers(env) });

    let raw = 0;
    const until = performance.now() + duration * 1000;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < until) {
          // The same input the API sends: the stored workflow, its version and its definition.
          await env.client.workflow.start('dagWorkflow', {
            taskQueue: unpolled,
            workflowId: `bench-raw-${randomUUID()}`,
            args: [{ workflowId, version: 1, definition }],
          });
          raw++;
        }
      }),
    );
    const apiStartRps = start.requests.average;
    const rawStartRps = raw / duration;
    return {
      connections,
      durationS: duration,
      apiStartRps: round(apiStartRps),
      apiStartLatencyP50Ms: start.latency.p50,
      apiStartLatencyP99Ms: start.latency.p99,
      apiStartNon2xx: start.non2xx,
      rawClientStartRps: round(rawStartRps),
      ratio: round(apiStartRps / rawStartRps, 3),
      apiGetRps: round(get.requests.average),
      apiGetLatencyP50Ms: get.latency.p50,
    };
  } finally {
    await app.close();
  }
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
