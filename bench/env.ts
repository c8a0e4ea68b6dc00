import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { createNodeRegistry, defineNodeType } from '../src/activities';
import { createDb, type Db } from '../src/db/client';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../src/db/embedded-postgres';
import { migrate } from '../src/db/migrator';
import type { WorkflowDefinition } from '../src/domain/definition';
import { createApiKey } from '../src/services/api-keys';
import { createTrellisWorker } from '../src/worker';

/** When each benchNoop activity finished, by `${executionId}/${nodeId}` (mirror lag needs it). */
export const activityDone = new Map<string, number>();

export const benchNoop = defineNodeType({
  type: 'benchNoop',
  configSchema: Type.Record(Type.String(), Type.Unknown()),
  async run(_config, ctx) {
    activityDone.set(`${ctx.executionId}/${ctx.nodeId}`, performance.now());
    return {};
  },
});

export interface BenchEnv {
  address: string;
  taskQueue: string;
  client: Client;
  db: Db;
  tenantId: string;
  apiKey: string;
  databaseUrl: string;
  worker: Worker;
  /** Runs dagWorkflow (or another workflow type of the bench bundle) to completion; returns ms. */
  time(workflowType: string, args: unknown[]): Promise<number>;
  /** Stores a definition as a workflow of the bench tenant; returns its id. */
  store(definition: WorkflowDefinition): Promise<string>;
  close(): Promise<void>;
}

export async function startBenchEnv(): Promise<BenchEnv> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const taskQueue = `trellis-bench-${randomUUID()}`;
  // BENCH_PG_DETAIL=1: statements and WAL records by kind (the throughput scenario prints them).
  const detail = process.env.BENCH_PG_DETAIL === '1';
  const pg: EmbeddedPostgresHandle = await startEmbeddedPostgres(
    detail ? { postgresFlags: ['-c', 'shared_preload_libraries=pg_stat_statements'] } : {},
  );
  await migrate(pg.url);
  const db = createDb(pg.url, { max: 20 });
  const { tenantId, key } = await createApiKey(db, 'bench');
  const nativeConnection = await NativeConnection.connect({ address });
  const client = new Client({ connection: await Connection.connect({ address }) });
  const worker = await createTrellisWorker({
    connection: nativeConnection,
    taskQueue,
    db,
    registry: createNodeRegistry([benchNoop]),
    options: { workflowsPath: path.join(__dirname, 'workflows.ts') },
  });
  const running = worker.run();
  let stored = 0;
  return {
    address,
    taskQueue,
    client,
    db,
    tenantId,
    apiKey: key,
    databaseUrl: pg.url,
    worker,
    async time(workflowType, args) {
      const started = performance.now();
      await client.workflow.execute(workflowType, { taskQueue, workflowId: `bench-${randomUUID()}`, args });
      return performance.now() - started;
    },
    async store(definition) {
      const id = `wf_bench_${++stored}`;
      await db.workflow.create({
        data: { id, tenantId, name: definition.name, latestVersion: 1, versions: { create: { version: 1, definition: definition as object } } },
      });
      return id;
    },
    async close() {
      worker.shutdown();
      await running;
      await db.$disconnect();
      await client.connection.close();
      await nativeConnection.close();
      await pg.stop();
    },
  };
}

export function chain(type: string, n: number, config: (i: number) => Record<string, unknown> = (i) => ({ i })): WorkflowDefinition {
  const nodes = Array.from({ length: n }, (_, i) => ({ id: `n${i}`, type, config: config(i) }));
  return { name: `${type}-chain-${n}`, nodes, edges: nodes.slice(1).map((node, i) => ({ from: `n${i}`, to: node.id })) };
}

export function fanOut(n: number): WorkflowDefinition {
  return { name: `fan-out-${n}`, nodes: Array.from({ length: n }, (_, i) => ({ id: `n${i}`, type: 'benchNoop', config: { i } })) };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export const median = (values: number[]) => percentile(values, 50);

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Trellis vs a baseline, interleaved so drift on a noisy machine hits both alike. */
export async function sideBySide(runs: number, trellis: () => Promise<number>, baseline: () => Promise<number>) {
  await trellis();
  await baseline();
  const t: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    t.push(await trellis());
    b.push(await baseline());
  }
  return { trellisMedianMs: round(median(t)), baselineMedianMs: round(median(b)), ratio: round(median(t) / median(b), 3), trellisMs: t.map((x) => round(x)), baselineMs: b.map((x) => round(x)) };
}
