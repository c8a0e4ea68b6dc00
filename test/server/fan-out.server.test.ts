import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { cancelSignal, stateQuery } from '../../src/contracts/dag-workflow';
import { probeJournal } from '../support/probe-node';
import { waitFor } from '../support/fault-process';
import { startHarness, type Harness } from './harness';

/*
 * Plain activity nodes (no templates) of new runs share a cancellation scope per way they are
 * stopped (patch `lean-activity-nodes`). Cancellation must still reach exactly the nodes it did
 * with a scope per node, and a cleanup node started after a shared scope was cancelled must get
 * a fresh one. The harness replays every run's history against the current code.
 */
let h: Harness | undefined;
beforeAll(async () => {
  h = await startHarness('fan-out server tests');
}, 120_000);
afterAll(async () => {
  await h?.close();
});

const sleepers = (n: number, sleepMs: number) => Array.from({ length: n }, (_, i) => ({ id: `s${i}`, type: 'probe', config: { sleepMs } }));

/** The payloads of the run's marker events, as text (a patch marker's names its patch id). */
async function markers(handle: Awaited<ReturnType<Harness['start']>>): Promise<string> {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .flatMap((e) => Object.values(e.markerRecordedEventAttributes?.details ?? {}))
    .flatMap((payloads) => payloads.payloads ?? [])
    .map((payload) => Buffer.from(payload.data ?? []).toString())
    .join('\n');
}

describe('plain activity nodes in shared cancellation scopes', () => {
  it('a fatal failure cancels every running node; a cleanup node started afterwards runs', async (ctx) => {
    if (!h) return ctx.skip();
    const definition: WorkflowDefinition = {
      name: 'fan-out-wind-down',
      defaults: { maxConcurrency: 12 },
      nodes: [
        // First, so it is among the 12 launched at once.
        { id: 'boom', type: 'probe', config: { sleepMs: 1_000, failTimes: 1, nonRetryable: true } },
        ...sleepers(20, 20_000),
        { id: 'cleanup', type: 'probe', trigger: 'all_done', config: { value: 'cleaned' } },
      ],
      edges: [{ from: 'boom', to: 'cleanup' }, ...Array.from({ length: 20 }, (_, i) => ({ from: `s${i}`, to: 'cleanup' }))],
    };
    const handle = await h.start('fan-out-wind-down', definition);
    const { result } = await h.outcome(handle, 'fan-out-wind-down');
    expect(result?.status).toBe('FAILED');
    expect(result?.outputs.cleanup).toEqual({ value: 'cleaned', attempt: 1 });
    const journal = probeJournal.get(handle.workflowId) ?? [];
    // 11 sleepers were running beside boom (12 in flight): each was cancelled, none finished; the rest never started.
    const started = new Set(journal.filter((e) => e.event === 'start' && e.nodeId.startsWith('s')).map((e) => e.nodeId));
    const cancelled = new Set(journal.filter((e) => e.event === 'cancelled').map((e) => e.nodeId));
    expect(started.size).toBe(11);
    expect(cancelled).toEqual(started);
    expect(journal.some((e) => e.event === 'end' && e.nodeId.startsWith('s'))).toBe(false);
    expect(await markers(handle)).toContain('lean-activity-nodes');
  }, 90_000);

  it('a cancel request cancels the running nodes but not the running cleanup ones; later cleanup still runs', async (ctx) => {
    if (!h) return ctx.skip();
    const definition: WorkflowDefinition = {
      name: 'fan-out-cancel',
      nodes: [
        ...sleepers(8, 20_000),
        { id: 'audit', type: 'probe', trigger: 'always', config: { sleepMs: 2_500, value: 'audited' } },
        { id: 'release', type: 'probe', trigger: 'all_done', config: { value: 'released' } },
      ],
      edges: [...Array.from({ length: 8 }, (_, i) => ({ from: `s${i}`, to: 'release' })), { from: 'audit', to: 'release' }],
    };
    const handle = await h.start('fan-out-cancel', definition);
    await waitFor(
      'every node to start',
      async () => new Set((probeJournal.get(handle.workflowId) ?? []).filter((e) => e.event === 'start').map((e) => e.nodeId)).size === 9,
      30_000,
      50,
    );
    await handle.signal(cancelSignal, { reason: 'test' });
    const { result } = await h.outcome(handle, 'fan-out-cancel');
    expect(result?.status).toBe('CANCELLED');
    // `audit` runs when stopping (trigger always): its shared scope is another one, not cancelled.
    expect(result?.outputs.audit).toEqual({ value: 'audited', attempt: 1 });
    expect(result?.outputs.release).toEqual({ value: 'released', attempt: 1 });
    const state = await handle.query(stateQuery);
    for (let i = 0; i < 8; i++) expect(state.nodes[`s${i}`]?.status).toBe('CANCELLED');
    const cancelled = (probeJournal.get(handle.workflowId) ?? []).filter((e) => e.event === 'cancelled').map((e) => e.nodeId);
    expect(cancelled.sort()).toEqual(Array.from({ length: 8 }, (_, i) => `s${i}`).sort());
  }, 90_000);
});
