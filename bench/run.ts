/**
 * Trellis vs hand-written Temporal code, side by side on one worker and one server.
 * Needs a server: TEMPORAL_ADDRESS (default 127.0.0.1:7233). Prints JSON with medians and ratios.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { createNodeRegistry, defineNodeType } from '../src/activities';
import type { WorkflowDefinition } from '../src/domain/definition';
import { createTrellisWorker } from '../src/worker';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CHAIN = 40;
const FAN_OUT = Number(process.env.BENCH_FAN_OUT ?? 500);

const benchNoopType = defineNodeType({
  type: 'benchNoop',
  configSchema: Type.Record(Type.String(), Type.Unknown()),
  async run() {
    return {};
  },
});

function chain(type: string, n: number, config: (i: number) => Record<string, unknown>): WorkflowDefinition {
  const nodes = Array.from({ length: n }, (_, i) => ({ id: `n${i}`, type, config: config(i) }));
  const edges = nodes.slice(1).map((node, i) => ({ from: `n${i}`, to: node.id }));
  return { name: `${type}-chain-${n}`, nodes, edges };
}

function fanOut(n: number): WorkflowDefinition {
  const nodes = Array.from({ length: n }, (_, i) => ({ id: `n${i}`, type: 'benchNoop', config: { i } }));
  return { name: `fan-out-${n}`, nodes };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const taskQueue = `trellis-bench-${randomUUID()}`;
  const nativeConnection = await NativeConnection.connect({ address });
  const client = new Client({ connection: await Connection.connect({ address }) });
  const worker = await createTrellisWorker({
    connection: nativeConnection,
    taskQueue,
    registry: createNodeRegistry([benchNoopType]),
    options: { workflowsPath: path.join(__dirname, 'workflows.ts') },
  });
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);

  const time = async (workflowType: string, args: unknown[]): Promise<number> => {
    const started = performance.now();
    await client.workflow.execute(workflowType, { taskQueue, workflowId: `bench-${randomUUID()}`, args });
    return performance.now() - started;
  };
  const dag = (definition: WorkflowDefinition) => time('dagWorkflow', [{ definition }]);

  const scenarios: Record<string, { trellis: () => Promise<number>; baseline: () => Promise<number> }> = {
    activityChain40: {
      trellis: () => dag(chain('benchNoop', CHAIN, (i) => ({ i }))),
      baseline: () => time('handWrittenChain', [CHAIN]),
    },
    transformChain40: {
      trellis: () => dag(chain('transform', CHAIN, (i) => ({ expression: `${i} + 1` }))),
      // One activity round trip through the same interpreter: the budget for all 40 transforms.
      baseline: () => dag(chain('benchNoop', 1, (i) => ({ i }))),
    },
    [`fanOut${FAN_OUT}`]: {
      trellis: () => dag(fanOut(FAN_OUT)),
      baseline: () => time('handWrittenFanOut', [FAN_OUT, 500]),
    },
  };

  const results = await worker.runUntil(async () => {
    // Warm the bundle, the sticky cache and the connections before measuring.
    for (const s of Object.values(scenarios)) {
      await s.trellis();
      await s.baseline();
    }
    const out: Record<string, { trellisMs: number[]; baselineMs: number[] }> = {};
    for (const [name, s] of Object.entries(scenarios)) {
      const trellisMs: number[] = [];
      const baselineMs: number[] = [];
      // Interleaved so drift on a noisy machine hits both sides alike.
      for (let i = 0; i < RUNS; i++) {
        trellisMs.push(await s.trellis());
        baselineMs.push(await s.baseline());
      }
      out[name] = { trellisMs, baselineMs };
    }
    return out;
  });
  clearInterval(sampler);

  const summary = Object.fromEntries(
    Object.entries(results).map(([name, r]) => {
      const trellis = median(r.trellisMs);
      const baseline = median(r.baselineMs);
      return [name, { trellisMedianMs: round(trellis), baselineMedianMs: round(baseline), ratio: round(trellis / baseline, 3), runs: r }];
    }),
  );
  const report = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: round(os.totalmem() / 2 ** 30, 1), node: process.version },
    server: address,
    runsPerScenario: RUNS,
    goals: {
      activityChain40: 'ratio <= 1.05 (Trellis vs hand-written)',
      transformChain40: 'ratio < 1 (40 transforms cost less than one activity round trip)',
      [`fanOut${FAN_OUT}`]: 'ratio vs hand-written bounded Promise.all',
    },
    results: summary,
    workerPeakRssMiB: round(peakRss / 2 ** 20, 1),
  };
  console.log(JSON.stringify(report, null, 2));
  console.log('\nscenario            trellis ms  baseline ms  ratio');
  for (const [name, r] of Object.entries(summary)) {
    console.log(`${name.padEnd(20)}${String(r.trellisMedianMs).padStart(10)}  ${String(r.baselineMedianMs).padStart(11)}  ${r.ratio}`);
  }
  await nativeConnection.close();
  await client.connection.close();
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
