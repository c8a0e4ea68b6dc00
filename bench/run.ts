/**
 * Trellis vs hand-written Temporal code and the raw client, side by side on one worker and one
 * server. Needs a server: TEMPORAL_ADDRESS (default 127.0.0.1:7233). Prints JSON and a table.
 * BENCH_ONLY=overhead,local,mirror,api,history,memory,failover,codec,iteration picks scenarios
 * (big-outputs, issue 22 item 7, fairshare, issue 24 item 1, throughput, issue 26, and tracing, issue 28, run only when named)
 * (api-load: only the API start rate of `api`);
 * BENCH_RUNS sets repetitions (iteration: BENCH_MAP_ITEMS, default 100,000, sizes the large map; 0 skips it).
 */
import os from 'node:os';
import { round, startBenchEnv } from './env';
import { apiScenarios, loadScenario } from './scenarios/api';
import { failoverStall } from './scenarios/failover';
import { localMode } from './scenarios/local';
import { mirrorCost } from './scenarios/mirror';
import { historyGrowth } from './scenarios/history';
import { iteration } from './scenarios/iteration';
import { workerMemory } from './scenarios/memory';
import { overhead } from './scenarios/overhead';
import { codecOverhead } from './scenarios/codec';
import { bigOutputs } from './scenarios/big-outputs';
import { fairShare } from './scenarios/fair-share';
import { throughput } from './scenarios/throughput';
import { tracingOverhead } from './scenarios/tracing';

// The API load scenario leaves thousands of runs RUNNING (nobody polls their queue); the worker's
// own per-tenant check (loadDefinition) would then fail every later scenario's stored runs.
process.env.TRELLIS_MAX_RUNNING_PER_TENANT ??= '10000000';

async function main(): Promise<void> {
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  const only = new Set((process.env.BENCH_ONLY ?? 'overhead,local,mirror,api,history,memory,failover,codec,iteration').split(','));
  const env = await startBenchEnv();
  const results: Record<string, unknown> = {};
  try {
    if (only.has('overhead')) results.overhead = await overhead(env, runs);
    if (only.has('api')) results.api = await apiScenarios(env, runs);
    // Only the API start rate vs the raw client (part of `api`).
    if (only.has('api-load')) results.apiLoad = await loadScenario(env);
    if (only.has('history')) results.history = await historyGrowth(env);
    if (only.has('memory')) results.memory = await workerMemory(env);
    if (only.has('codec')) results.codec = await codecOverhead(env, runs);
    if (only.has('iteration')) results.iteration = await iteration(env, runs);
    if (only.has('local')) results.local = await localMode(env, runs);
    if (only.has('mirror')) results.mirror = await mirrorCost(env, runs);
    if (only.has('failover')) results.failover = await failoverStall(env, runs);
    // Not in the default set: it moves 128 MiB per run (BENCH_ONLY=big-outputs).
    if (only.has('big-outputs')) results.bigOutputs = await bigOutputs(env, runs);
    // Not in the default set: about a minute of slow loopback nodes (BENCH_ONLY=fairshare).
    if (only.has('fairshare')) results.fairShare = await fairShare(env, runs);
    // Not in the default set: minutes per round (BENCH_ONLY=throughput; BENCH_THROUGHPUT_RUNS).
    if (only.has('throughput')) results.throughput = await throughput(env, runs);
    // Not in the default set: it patches pg/http/undici for its duration (BENCH_ONLY=tracing).
    if (only.has('tracing')) results.tracing = await tracingOverhead(env, runs);
  } finally {
    await env.close();
  }
  const report = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: round(os.totalmem() / 2 ** 30, 1), node: process.version },
    server: env.address,
    runsPerScenario: runs,
    goals: {
      activityChain40: 'ratio <= 1.05 vs hand-written',
      transformChain40: 'ratio < 1: 40 in-workflow nodes cost less than one activity round trip',
      fanOut: 'ratio <= 1.2 vs hand-written bounded Promise.all',
      map1000: 'ratio <= 1.2 vs hand-written bounded Promise.all',
      mapLarge: 'ratio <= 1.3 vs hand-written sliding window of children; no history over 10,240 events',
      load: 'API start rate >= 0.8 x raw client start rate',
      activityChain40Codec: 'ratio <= 1.05 with the payload codec on vs off',
      activityChain40Tracing: 'ratio <= 1.05 with OpenTelemetry tracing on (OTLP to a loopback collector) vs off',
      localChain40: 'local-mode http chain <= 0.10 x hand-written regular chain, <= 1.10 x hand-written local chain',
      mirror: 'mirrored 40-node chain <= 1.02 x unmirrored; lag p50 <= 20 ms, p99 <= 100 ms',
      failover: 'a SIGKILLed worker\'s node is retried on a live worker within 10 s',
      fairShare: "another tenant's one-node run while one tenant saturates the worker <= 2x its time alone + 1 s (activity and local)",
      throughput: 'mirrored >= 0.9 x inline node throughput at 200 concurrent 20-node runs; per node <= 1 commit, <= 500 B WAL',
      bigOutputs: 'victimPostCount = 1; victimMaxLoopStallMs < 1000 while 8 x 16 MiB responses land; peakRssMb growth < 1 GB',
    },
    results,
  };
  console.log(JSON.stringify(report, null, 2));
  const overheadResults = results.overhead as Record<string, { trellisMedianMs: number; baselineMedianMs: number; ratio: number }> | undefined;
  if (overheadResults) {
    console.log('\nscenario                  trellis ms  baseline ms  ratio');
    for (const [name, r] of Object.entries(overheadResults)) {
      console.log(`${name.padEnd(26)}${String(r.trellisMedianMs).padStart(10)}  ${String(r.baselineMedianMs).padStart(11)}  ${r.ratio}`);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
