import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { createApiKey } from '../../src/services/api-keys';
import { DAG_WORKFLOW_TYPE, stateQuery, type DagRunResult } from '../../src/contracts/dag-workflow';
import type { dagWorkflow } from '../../src/workflows';
import { JOURNAL_DDL, sleep, type JournalRow } from '../support/fault-process';
import { mirrorMismatches } from '../support/mirror-check';
import { useFaultEnvironment } from '../support/fault-environment';

/*
 * SIGKILL the worker process 10 times at random points while three 30-node runs (chain + fan-out)
 * are in flight, starting a new worker each time. What is asserted, per node:
 *  - Temporal scheduled its activity exactly once and completed it exactly once (the workflow,
 *    replayed on each new worker, never schedules a node again);
 *  - the attempt that reported success (A, from the history) is the last attempt ever started:
 *    no journal `start` of that node comes after the `end` of attempt A. Earlier attempts are
 *    allowed only when they ran on a worker that was then killed — either killed mid-flight
 *    (a `start` without an `end`) or killed after the node's code finished but before the
 *    completion reached Temporal (an `end` that Temporal never heard of, then a retry after the
 *    3 s start-to-close timeout). "No SUCCEEDED node runs again" therefore means: a node whose
 *    activity completed and reported success is never started again;
 *  - the mirror (executions + node_runs) equals the workflow's `state` query exactly;
 *  - every history replays deterministically against the current workflow code.
 */
const KILLS = 10;
const RUNS = 3;
const seed = Number(process.env.FAULT_SEED ?? Date.now() % 1_000_000);
let rand = seed;
/** mulberry32: the kill points are reproducible with FAULT_SEED. */
function random(): number {
  rand = (rand + 0x6d2b79f5) | 0;
  let t = Math.imul(rand ^ (rand >>> 15), 1 | rand);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

function definition(): WorkflowDefinition {
  const nodes: WorkflowDefinition['nodes'] = [];
  const edges: NonNullable<WorkflowDefinition['edges']> = [];
  const node = (id: string) => nodes.push({ id, type: 'journaled', config: { sleepMs: 50 + ([...id].reduce((h, ch) => h * 31 + ch.charCodeAt(0), 7) % 101) } });
  // a0 → … → a9 (chain); a4 fans out to f0..f9, joined by j; j → c0 → … → c7; a9 and c7 meet in z.
  for (let i = 0; i < 10; i++) {
    node(`a${i}`);
    if (i > 0) edges.push({ from: `a${i - 1}`, to: `a${i}` });
  }
  node('j');
  for (let i = 0; i < 10; i++) {
    node(`f${i}`);
    edges.push({ from: 'a4', to: `f${i}` }, { from: `f${i}`, to: 'j' });
  }
  for (let i = 0; i < 8; i++) {
    node(`c${i}`);
    edges.push({ from: i === 0 ? 'j' : `c${i - 1}`, to: `c${i}` });
  }
  node('z');
  edges.push({ from: 'a9', to: 'z' }, { from: 'c7', to: 'z' });
  return {
    name: 'worker-kill',
    // Kills leave activities in flight: a short start-to-close brings them back in 3 s, and
    // enough attempts that ten kills cannot exhaust them.
    defaults: { retry: { maximumAttempts: 50, initialInterval: '200ms', maximumInterval: '1s' }, timeout: { startToClose: '3s' } },
    nodes,
    edges,
  };
}

const fault = useFaultEnvironment('worker-kill fault tests', { journalDdl: JOURNAL_DDL, taskQueuePrefix: 'trellis-fault' });

async function journal(): Promise<JournalRow[]> {
  const rows = await fault.database!.db.$queryRawUnsafe<JournalRow[]>('SELECT * FROM fault_journal ORDER BY seq');
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

describe('SIGKILL of the worker process mid-run', () => {
  it(`${RUNS} runs of 30 nodes survive ${KILLS} worker kills: completed nodes never run again, the mirror matches Temporal`, async (ctx) => {
    if (!fault.server || !fault.database) return ctx.skip();
    console.log(`worker-kill: FAULT_SEED=${seed}`);
    const { db } = fault.database;
    const { tenantId } = await createApiKey(db, 'acme');
    const def = definition();
    await db.workflow.create({ data: { id: 'wf_kill', tenantId, name: def.name, latestVersion: 1 } });
    await db.workflowVersion.create({ data: { workflowId: 'wf_kill', version: 1, definition: def as object } });

    let worker = await fault.startWorker(0);
    for (let r = 0; r < RUNS; r++) {
      fault.handles.push(
        await fault.server.env.client.workflow.start<typeof dagWorkflow>(DAG_WORKFLOW_TYPE, {
          taskQueue: fault.taskQueue,
          workflowId: `kill-${r}-${randomUUID()}`,
          args: [{ workflowId: 'wf_kill', input: { r } }],
        }),
      );
    }
    const results = fault.handles.map((h) => h.result().then((result): DagRunResult => result));
    results.forEach((p) => p.catch(() => undefined));

    // Each life: wait for a random number of node finishes (or a random while if nothing moves),
    // then a random few ms more, then SIGKILL in whatever the worker was doing.
    const kills: string[] = [];
    for (let generation = 0; generation < KILLS; generation++) {
      const before = (await journal()).filter((j) => j.event === 'end').length;
      const wanted = 1 + Math.floor(random() * 6);
      const patience = Date.now() + 4_000 + random() * 16_000;
      let ends = before;
      while (ends < before + wanted && Date.now() < patience) {
        await sleep(25);
        ends = (await journal()).filter((j) => j.event === 'end').length;
      }
      await sleep(random() * 150);
      await worker.kill();
      kills.push(`#${generation + 1} after ${ends - before}/${wanted} finishes`);
      worker = await fault.startWorker(generation + 1);
    }
    console.log(`worker-kill: kills: ${kills.join(', ')}`);
    const lastRestart = Date.now();

    const outcomes = await Promise.all(results);
    console.log(`worker-kill: all runs completed ${Date.now() - lastRestart} ms after the last restart`);
    const rows = await journal();
    const finalGeneration = KILLS;
    let reattempted = 0;
    let finishedButUnreported = 0;
    for (const [r, handle] of fault.handles.entries()) {
      expect(outcomes[r]!.status, handle.workflowId).toBe('SUCCEEDED');
      const history = await handle.fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: { codePath: fault.bundle! } }, history, handle.workflowId);

      // From the history: per node, scheduled / completed counts and the attempt that succeeded.
      const events = history.events ?? [];
      const byEventId = new Map(events.map((e) => [Number(e.eventId), e]));
      const scheduled = new Map<string, number>();
      const succeededAttempt = new Map<string, number>();
      for (const e of events) {
        const s = e.activityTaskScheduledEventAttributes;
        if (s?.activityType?.name === 'journaled') scheduled.set(s.activityId!, (scheduled.get(s.activityId!) ?? 0) + 1);
        const c = e.activityTaskCompletedEventAttributes;
        if (c) {
          const nodeId = byEventId.get(Number(c.scheduledEventId))?.activityTaskScheduledEventAttributes?.activityId;
          const attempt = byEventId.get(Number(c.startedEventId))?.activityTaskStartedEventAttributes?.attempt;
          if (!nodeId || scheduled.get(nodeId) === undefined) continue; // a mirror or engine activity
          expect(succeededAttempt.has(nodeId), `${nodeId} completed twice`).toBe(false);
          succeededAttempt.set(nodeId, Number(attempt));
        }
      }
      const nodeIds = def.nodes.map((n) => n.id);
      expect([...scheduled.entries()].sort(), 'each node scheduled exactly once').toEqual(nodeIds.map((id) => [id, 1]).sort());
      expect([...succeededAttempt.keys()].sort()).toEqual([...nodeIds].sort());

      const state = await handle.query(stateQuery);
      for (const nodeId of nodeIds) {
        const attempt = succeededAttempt.get(nodeId)!;
        const mine = rows.filter((j) => j.execution_id === handle.workflowId && j.node_id === nodeId);
        const where = `${handle.workflowId}/${nodeId} (attempt ${attempt} succeeded): ${JSON.stringify(mine)}`;
        expect(state.nodes[nodeId]).toMatchObject({ status: 'SUCCEEDED', attempt, output: { nodeId, attempt } });
        const successEnd = mine.filter((j) => j.event === 'end' && j.attempt === attempt);
        expect(successEnd, where).toHaveLength(1);
        // Never started again once the reported attempt finished, and no later attempt at all.
        expect(mine.filter((j) => j.seq > successEnd[0]!.seq), where).toEqual([]);
        expect(mine.filter((j) => j.attempt > attempt), where).toEqual([]);
        // One start per attempt; every earlier attempt ran on a worker that was then killed.
        const starts = mine.filter((j) => j.event === 'start').map((j) => j.attempt);
        expect(new Set(starts).size, where).toBe(starts.length);
        for (const earlier of mine.filter((j) => j.attempt < attempt)) expect(earlier.generation, where).toBeLessThan(finalGeneration);
        if (starts.length > 1) reattempted++;
        if (mine.some((j) => j.event === 'end' && j.attempt < attempt)) finishedButUnreported++;
      }
      expect(await mirrorMismatches(fault.database.db, handle.workflowId, state)).toEqual([]);
    }
    console.log(
      `worker-kill: ${RUNS} runs × 30 nodes SUCCEEDED across ${KILLS} kills; ${reattempted} nodes re-attempted after a kill ` +
        `(${finishedButUnreported} of them had finished but were killed before reporting); ${rows.length} journal rows; mirror matches Temporal`,
    );
  }, 600_000);
});
