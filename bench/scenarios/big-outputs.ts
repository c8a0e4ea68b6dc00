import { ALLOW_LOOPBACK_ENV } from '../../src/activities/nodes/ssrf';
import { createApiKey } from '../../src/services/api-keys';
import { runBigOutputsAttack } from '../../test/support/big-outputs';
import type { BenchEnv } from '../env';

/**
 * Issue 22 item 7: tenant A's eight http nodes each receive a 16 MiB JSON body (loopback server)
 * while tenant B's POST is in flight on the same worker, held open until A's outputs are stored.
 * Reports the worker's longest event-loop stall during the attack (the victim's heartbeats run
 * on that loop: its heartbeat gap is at most the 1 s interval plus this), how often the victim's
 * POST reached the server (goal 1) and the peak RSS of the process holding the worker.
 */
export async function bigOutputs(env: BenchEnv, runs: number) {
  process.env[ALLOW_LOOPBACK_ENV] = '1';
  const attacker = (await createApiKey(env.db, `bench-attacker-${Date.now()}`)).tenantId;
  let stored = 0;
  const store = async (tenantId: string, definition: { name: string }) => {
    const id = `wf_bench_big_${Date.now()}_${++stored}`;
    await env.db.workflow.create({
      data: { id, tenantId, name: definition.name, latestVersion: 1, versions: { create: { version: 1, definition: definition as object } } },
    });
    return id;
  };
  const samples = [];
  for (let i = 0; i < Math.max(1, Math.min(runs, 3)); i++) {
    const { victimOutput: _output, attackError, storedItems, expectedItems, ...figures } = await runBigOutputsAttack({
      client: env.client,
      taskQueue: env.taskQueue,
      db: env.db,
      store,
      attacker,
      victim: env.tenantId,
    });
    samples.push({
      ...figures,
      attackOutputsComplete: storedItems.every((n) => n === expectedItems),
      ...(attackError !== undefined && { attackError }),
    });
  }
  return {
    victimMaxLoopStallMs: Math.max(...samples.map((s) => s.maxLoopStallMs)),
    victimPostCount: Math.max(...samples.map((s) => s.victimPostCount)),
    peakRssMb: Math.max(...samples.map((s) => s.peakRssMb)),
    peakRssGrowthMb: Math.max(...samples.map((s) => s.peakRssMb - s.rssBeforeMb)),
    samples,
    note: 'one process holds the worker, the client, the loopback server and the bench; heartbeat gap <= 1 s interval + max stall',
  };
}
