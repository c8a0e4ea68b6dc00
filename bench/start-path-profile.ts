/**
 * Where a POST /executions goes: SQL statements and Temporal calls per start, and how long each
 * waits. Needs a server (TEMPORAL_ADDRESS). Starts the API in this process on a task queue no
 * worker polls, sends PROFILE_STARTS sequential starts (keep-alive), then PROFILE_SECONDS of
 * load from another process (autocannon, 10 connections) — run it under `node --cpu-prof` to
 * see the API's CPU. Prints JSON.
 *   TEMPORAL_ADDRESS=127.0.0.1:7233 npx tsx bench/start-path-profile.ts
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/start-path-profile.ts
 * PROFILE_SKIP_TEMPORAL=1 answers starts without calling Temporal: what the API itself costs.
 * For CPU rather than wall-clock samples, `perf record -e cpu-clock -g -p PID` on a process started
 * with `node --perf-basic-prof` names the JavaScript frames too.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { createNodeRegistry } from '../src/activities';
import { buildApp } from '../src/api/app';
import { createTemporalGateway, type TemporalGateway } from '../src/temporal/gateway';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres';
import { migrate } from '../src/db/migrator';
import { createDb } from '../src/db/client';
import { createApiKey } from '../src/services/api-keys';
import { percentile, round } from './env';

const sqlLog: { sql: string; ms: number }[] = [];
const grpcLog: string[] = [];

async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const starts = Number(process.env.PROFILE_STARTS ?? 200);
  const seconds = Number(process.env.PROFILE_SECONDS ?? 10);
  process.env.TRELLIS_MAX_RUNNING_PER_TENANT ??= '10000000';
  const pgServer = await startEmbeddedPostgres();
  await migrate(pgServer.url);
  const pool = new pg.Pool({ connectionString: pgServer.url, max: 10 });
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  // Every statement Prisma sends outside a transaction goes through pool.query (the start path has no transaction).
  (pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = async (...args: unknown[]) => {
    const t0 = performance.now();
    try {
      return await query(...args);
    } finally {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text;
      sqlLog.push({ sql: text.replace(/\s+/g, ' ').slice(0, 90), ms: performance.now() - t0 });
    }
  };
  const db = createDb(pgServer.url, { pool });
  const { tenantId, key } = await createApiKey(db, 'profile');
  const definition = { name: 'load', nodes: [{ id: 'a', type: 'noop' }] };
  const workflowId = 'wf_profile';
  await db.workflow.create({ data: { id: workflowId, tenantId, name: 'load', latestVersion: 1, versions: { create: { version: 1, definition } } } });

  const countingInterceptor: Interceptor = (options, nextCall) => {
    grpcLog.push(options.method_definition.path.split('/').pop() ?? '?');
    return new InterceptingCall(nextCall(options));
  };
  const connection = await Connection.connect({ address, interceptors: [countingInterceptor] });
  const client = new Client({ connection });
  const inner = createTemporalGateway(client, `profile-unpolled-${randomUUID()}`);
  const temporalMs: number[] = [];
  const temporal: TemporalGateway = {
    ...inner,
    async startRun(id, input) {
      const t0 = performance.now();
      try {
        if (process.env.PROFILE_SKIP_TEMPORAL) return;
        return await inner.startRun(id, input);
      } finally {
        temporalMs.push(performance.now() - t0);
      }
    },
  };
  const app = await buildApp({ db, temporal, catalog: createNodeRegistry().catalog(), limits: { rateLimitPerMinute: 1_000_000, addressRateLimitPerMinute: 1_000_000 } });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ workflowId });
  try {
    for (let i = 0; i < 20; i++) await fetch(`${base}/executions`, { method: 'POST', headers, body }); // warm-up, key cached
    sqlLog.length = 0;
    grpcLog.length = 0;
    temporalMs.length = 0;
    const latency: number[] = [];
    for (let i = 0; i < starts; i++) {
      const t0 = performance.now();
      const res = await fetch(`${base}/executions`, { method: 'POST', headers, body });
      await res.arrayBuffer();
      if (res.status !== 202) throw new Error(`start answered ${res.status}`);
      latency.push(performance.now() - t0);
    }
    const byStatement = new Map<string, { count: number; ms: number[] }>();
    for (const { sql, ms } of sqlLog) {
      const entry = byStatement.get(sql) ?? { count: 0, ms: [] };
      entry.count++;
      entry.ms.push(ms);
      byStatement.set(sql, entry);
    }
    const sequential = {
      starts,
      latencyMs: { p50: round(percentile(latency, 50), 2), p95: round(percentile(latency, 95), 2) },
      sqlPerStart: round(sqlLog.length / starts, 2),
      sqlMsPerStart: round(sqlLog.reduce((s, x) => s + x.ms, 0) / starts, 2),
      statements: [...byStatement].map(([sql, e]) => ({ sql, perStart: round(e.count / starts, 2), p50Ms: round(percentile(e.ms, 50), 2) })),
      grpcPerStart: Object.fromEntries([...new Set(grpcLog)].map((m) => [m, round(grpcLog.filter((x) => x === m).length / starts, 2)])),
      temporalStartMs: { p50: round(percentile(temporalMs, 50), 2), p95: round(percentile(temporalMs, 95), 2) },
    };
    sqlLog.length = 0;
    const postgresPid = postmasterPid((await db.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid);
    const temporalPid = Number(process.env.TEMPORAL_PID ?? NaN);
    const others = () => ({ postgres: processTreeCpuMs(postgresPid), temporal: Number.isNaN(temporalPid) ? NaN : processTreeCpuMs(temporalPid) });
    const cpu0 = process.cpuUsage();
    const others0 = others();
    const loadFrom = process.hrtime.bigint() / 1000n;
    const load = await autocannon({ url: `${base}/executions`, method: 'POST', connections: 10, duration: seconds, headers, body });
    const cpu = process.cpuUsage(cpu0);
    const others1 = others();
    // The load phase's window in the clock of `--cpu-prof` timestamps (µs), to cut a profile to it.
    console.error(`load window µs: ${loadFrom} ${process.hrtime.bigint() / 1000n}`);

    // The raw client doing the same starts from this process, for the CPU each side costs the machine.
    let raw = 0;
    const rawCpu0 = process.cpuUsage();
    const rawOthers0 = others();
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (performance.now() < until) {
          await client.workflow.start('dagWorkflow', {
            taskQueue: `profile-unpolled-raw`,
            workflowId: `profile-raw-${randomUUID()}`,
            args: [{ tenantId, workflowId, version: 1, definition }],
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
          });
          raw++;
        }
      }),
    );
    const rawCpu = process.cpuUsage(rawCpu0);
    const rawOthers1 = others();
    const perStart = (ms: number, n: number) => round(ms / n, 3);
    console.log(
      JSON.stringify(
        {
          sequential,
          load: {
            starts2xx: load['2xx'],
            non2xx: load.non2xx,
            startsPerSecond: round(load['2xx'] / seconds),
            // Below 1 when concurrent starts share statements (GroupCommit).
            sqlPerStart: round(sqlLog.length / load['2xx'], 3),
            latencyP50Ms: load.latency.p50,
            latencyP99Ms: load.latency.p99,
            cpuMsPerStart: {
              api: perStart((cpu.user + cpu.system) / 1000, load['2xx']),
              loadGenerator: perStart(load.cpuMs, load['2xx']),
              postgres: perStart(others1.postgres - others0.postgres, load['2xx']),
              temporal: perStart(others1.temporal - others0.temporal, load['2xx']),
            },
          },
          raw: {
            startsPerSecond: round(raw / seconds),
            cpuMsPerStart: {
              client: perStart((rawCpu.user + rawCpu.system) / 1000, raw),
              postgres: perStart(rawOthers1.postgres - rawOthers0.postgres, raw),
              temporal: perStart(rawOthers1.temporal - rawOthers0.temporal, raw),
            },
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await app.close();
    await db.$disconnect(); // ends the pool too
    await connection.close();
    await pgServer.stop();
  }
}

interface LoadResult {
  '2xx': number;
  non2xx: number;
  latency: { p50: number; p99: number };
  cpuMs: number;
}

async function autocannon(options: object): Promise<LoadResult> {
  const script =
    `const c0 = process.cpuUsage(); require('autocannon')(${JSON.stringify(options)})` +
    `.then((r) => { const c = process.cpuUsage(c0); process.stdout.write(JSON.stringify({ ...r, cpuMs: (c.user + c.system) / 1000 })); })`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as LoadResult;
}

/** utime + stime of a process and its reaped children (ms), from /proc. */
function processTreeCpuMs(pid: number): number {
  const ticks = (p: number) => {
    // Fields after the command's closing parenthesis: utime is the 12th, stime 13th, cutime 14th, cstime 15th.
    const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  };
  const children = readdirSync('/proc').filter((d) => /^\d+$/.test(d) && parentOf(Number(d)) === pid);
  const total = ticks(pid) + children.reduce((sum, c) => sum + safe(() => ticks(Number(c))), 0);
  return (total * 1000) / 100; // USER_HZ is 100 on Linux
}

function parentOf(pid: number): number {
  return safe(() => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]));
}

function postmasterPid(backendPid: number): number {
  return parentOf(backendPid);
}

function safe(read: () => number): number {
  try {
    return read();
  } catch {
    return 0; // the process exited meanwhile
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
