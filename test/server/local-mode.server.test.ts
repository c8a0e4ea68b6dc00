import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { DAG_WORKFLOW_TYPE, cancelSignal, stateQuery, type DagRunState } from '../../src/contracts/dag-workflow';
import { mirrorMismatches } from '../support/mirror-check';
import { probeJournal } from '../support/probe-node';
import { startHarness, type Harness } from './harness';

/*
 * mode "local": activity nodes run as Temporal local activities. Everything a regular node
 * does — mirror, retry, timeout, cancellation, error edges, retry from failure — must behave
 * the same; what differs is the history (markers instead of activity tasks).
 */
let h: Harness | undefined;
beforeAll(async () => {
  h = await startHarness('local-mode server tests');
});
afterAll(async () => h?.close());

function serverIt(name: string, fn: (h: Harness) => Promise<void>): void {
  it(name, async (ctx) => {
    if (!h) return ctx.skip();
    await fn(h);
  });
}

async function startStored(h: Harness, name: string, workflowId: string, extra: Record<string, unknown> = {}) {
  return h.server.env.client.workflow.start(DAG_WORKFLOW_TYPE, {
    taskQueue: h.taskQueue,
    workflowId: `${name}-${randomUUID()}`,
    args: [{ workflowId, input: { n: 1 }, ...extra }],
  });
}

/** Event types of a run's history, and the activity types Temporal scheduled as regular activities. */
async function historyShape(handle: WorkflowHandle) {
  const events = (await handle.fetchHistory()).events ?? [];
  return {
    markers: events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length,
    scheduled: events.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : [])),
    timers: events.filter((e) => e.timerStartedEventAttributes).length,
  };
}

async function waitFor(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition never held');
}

describe('mode "local" on a real Temporal server', () => {
  serverIt('runs http and custom nodes as local activities, mirrored like regular ones', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'local-chain',
      defaults: { mode: 'local' },
      nodes: [
        { id: 'fetch', type: 'http', config: { url: `${h.httpBase}/orders?count=3` } },
        { id: 'count', type: 'transform', config: { expression: '$count(nodes.fetch.output.body)' } },
        { id: 'flaky', type: 'probe', config: { failTimes: 1, value: '{{ nodes.count.output }}' }, retry: { initialInterval: '50ms' } },
        { id: 'remote', type: 'probe', mode: 'regular', config: { value: 'r' } },
      ],
      edges: [
        { from: 'fetch', to: 'count' },
        { from: 'count', to: 'flaky' },
        { from: 'flaky', to: 'remote' },
      ],
    };
    await h.store('wf_local_chain', definition);
    const handle = await startStored(h, 'local-chain', 'wf_local_chain');
    const { result } = await h.outcome(handle, 'local-chain');
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.fetch).toMatchObject({ status: 200, body: [{ id: 1 }, { id: 2 }, { id: 3 }] });
    expect(result?.outputs.flaky).toEqual({ value: 3, attempt: 2 });
    const state = await handle.query(stateQuery);
    expect(state.nodes.flaky).toMatchObject({ status: 'SUCCEEDED', attempt: 2 });
    expect(await mirrorMismatches(h.database.db, handle.workflowId, state)).toEqual([]);
    const shape = await historyShape(handle);
    // Only the node in mode "regular" (and the engine's own activities) became activity tasks.
    expect(shape.scheduled.filter((t) => t === 'http' || t === 'probe')).toEqual(['probe']);
    expect(shape.markers).toBeGreaterThanOrEqual(2);
  });

  serverIt('times out on startToClose, counts attempts and takes the error edge', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'local-timeout',
      nodes: [
        { id: 'slow', type: 'probe', mode: 'local', config: { sleepMs: 10_000 }, timeout: { startToClose: '500ms' }, retry: { maximumAttempts: 2, initialInterval: '50ms' } },
        { id: 'declined', type: 'probe', mode: 'local', config: { failTimes: 9, nonRetryable: true, failType: 'CardDeclined' } },
        { id: 'refund', type: 'transform', config: { expression: "nodes.declined.error.type & '/' & nodes.slow.error.type" } },
      ],
      edges: [
        { from: 'slow', to: 'declined', on: 'error' },
        { from: 'declined', to: 'refund', on: 'error' },
      ],
    };
    const handle = await h.start('local-timeout', definition);
    const { result } = await h.outcome(handle, 'local-timeout');
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.refund).toBe('CardDeclined/ActivityTimeout');
    const state = await handle.query(stateQuery);
    expect(state.nodes.slow).toMatchObject({ status: 'FAILED', attempt: 2, error: { type: 'ActivityTimeout' } });
    expect(state.nodes.declined).toMatchObject({ status: 'FAILED', attempt: 1, error: { type: 'CardDeclined' } });
  });

  serverIt('fails the run naming the node when a local node exhausts its retries', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'local-fail',
      nodes: [{ id: 'flaky', type: 'probe', mode: 'local', config: { failTimes: 9 }, retry: { maximumAttempts: 3, initialInterval: '20ms' } }],
    };
    const handle = await h.start('local-fail', definition);
    const { result, error } = await h.outcome(handle, 'local-fail');
    expect(error?.cause?.message).toMatch(/node "flaky" failed/);
    expect(result?.error).toMatchObject({ nodeId: 'flaky', type: 'ProbeFailure' });
    expect((await handle.query(stateQuery)).nodes.flaky).toMatchObject({ status: 'FAILED', attempt: 3 });
    expect(probeJournal.get(handle.workflowId)!.filter((e) => e.event === 'start')).toHaveLength(3);
  });

  serverIt('backs off with a durable timer past localRetryThreshold', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'local-threshold',
      nodes: [
        { id: 'flaky', type: 'probe', mode: 'local', localRetryThreshold: '100ms', config: { failTimes: 1 }, retry: { initialInterval: '300ms' } },
      ],
    };
    const handle = await h.start('local-threshold', definition);
    const { result } = await h.outcome(handle, 'local-threshold');
    expect(result?.outputs.flaky).toEqual({ value: null, attempt: 2 });
    expect((await historyShape(handle)).timers).toBe(1);
  });

  serverIt('cancels a running local node through the cancel signal', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'local-cancel',
      nodes: [
        { id: 'work', type: 'probe', mode: 'local', config: { sleepMs: 30_000 }, timeout: { startToClose: '1m' } },
        { id: 'after', type: 'noop' },
      ],
      edges: [{ from: 'work', to: 'after' }],
    };
    const handle = await h.start('local-cancel', definition);
    await waitFor(() => probeJournal.get(handle.workflowId)?.some((e) => e.event === 'start') ?? false);
    await handle.signal(cancelSignal, { reason: 'stop it' });
    const { result } = await h.outcome(handle, 'local-cancel');
    expect(result?.status).toBe('CANCELLED');
    const state: DagRunState = await handle.query(stateQuery);
    expect(state.nodes.work!.status).toBe('CANCELLED');
    expect(state.nodes.after!.status).toBe('CANCELLED');
    await waitFor(() => probeJournal.get(handle.workflowId)!.some((e) => e.event === 'cancelled'));
  });

  serverIt('retry from failure reuses a local node that succeeded and runs the failed one again', async (h) => {
    await h.store('wf_local_retry', {
      name: 'local-retry',
      defaults: { mode: 'local' },
      nodes: [
        { id: 'expensive', type: 'probe', config: { value: 'fresh' } },
        { id: 'second', type: 'probe', config: { value: '{{ nodes.expensive.output.value }}' } },
      ],
      edges: [{ from: 'expensive', to: 'second' }],
    });
    const handle = await startStored(h, 'local-retry-reuse', 'wf_local_retry', { reuse: { expensive: { value: 'reused' } } });
    const { result } = await h.outcome(handle, 'local-retry-reuse');
    expect(result?.outputs.second).toEqual({ value: 'reused', attempt: 1 });
    expect(probeJournal.get(handle.workflowId)!.map((e) => e.nodeId)).toEqual(['second', 'second']);
    const state = await handle.query(stateQuery);
    expect(state.nodes.expensive).toMatchObject({ status: 'SUCCEEDED', attempt: 0 });
    expect(await mirrorMismatches(h.database.db, handle.workflowId, state)).toEqual([]);
  });

  serverIt('a stored run loads its definition and mirrors through local activities; a missing workflow fails at once', async (h) => {
    await h.store('wf_local_engine', { name: 'engine', nodes: [{ id: 'a', type: 'probe', config: { value: 1 } }] });
    const handle = await startStored(h, 'local-engine', 'wf_local_engine');
    const { result } = await h.outcome(handle, 'local-engine');
    expect(result?.status).toBe('SUCCEEDED');
    const shape = await historyShape(handle);
    // loadDefinition, recordRun and mirrorTransitions ran in the worker: only the node is an activity task.
    expect(shape.scheduled).toEqual(['probe']);
    expect(await mirrorMismatches(h.database.db, handle.workflowId, await handle.query(stateQuery))).toEqual([]);

    const missing = await startStored(h, 'local-engine-missing', 'wf_does_not_exist');
    const started = Date.now();
    const { error } = await h.outcome(missing, 'local-engine-missing');
    expect(error?.cause?.message).toMatch(/workflow "wf_does_not_exist" has no any version/);
    expect(Date.now() - started).toBeLessThan(20_000); // non-retryable: no ten attempts with backoff
  });
});
