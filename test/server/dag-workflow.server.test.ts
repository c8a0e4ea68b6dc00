import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { approveSignal, cancelSignal, stateQuery, type DagRunState } from '../../src/contracts/dag-workflow';
import { probeJournal } from '../support/probe-node';
import { startHarness, type Harness } from './harness';

let h: Harness | undefined;
beforeAll(async () => {
  h = await startHarness('dagWorkflow server tests');
});
afterAll(async () => h?.close());

/** A test that needs the server: skipped (after one loud line in beforeAll) when there is none. */
function serverIt(name: string, fn: (h: Harness) => Promise<void>, timeout?: number): void {
  it(name, async (ctx) => {
    if (!h) return ctx.skip();
    await fn(h);
  }, timeout);
}

async function waitForState(handle: { query: (q: typeof stateQuery) => Promise<DagRunState> }, pred: (s: DagRunState) => boolean) {
  for (let i = 0; i < 200; i++) {
    const state = await handle.query(stateQuery);
    if (pred(state)) return state;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('state never reached');
}

describe('dagWorkflow on a real Temporal server', () => {
  serverIt('branches on a condition and joins with none_failed (DESIGN.md example)', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'order-sync',
      nodes: [
        { id: 'fetch', type: 'http', config: { method: 'GET', url: "{{ input.baseUrl & '/orders' }}" } },
        { id: 'big', type: 'condition', config: { expression: '$count(nodes.fetch.output.body) > 10' } },
        { id: 'bulk', type: 'http', config: { method: 'POST', url: "{{ input.baseUrl & '/bulk' }}", body: '{{ nodes.fetch.output.body }}' } },
        { id: 'one', type: 'transform', config: { expression: 'nodes.fetch.output.body[0]' } },
        { id: 'done', type: 'noop', trigger: 'none_failed' },
      ],
      edges: [
        { from: 'fetch', to: 'big' },
        { from: 'big', to: 'bulk', when: 'true' },
        { from: 'big', to: 'one', when: 'false' },
        { from: 'bulk', to: 'done' },
        { from: 'one', to: 'done' },
      ],
    };
    const handle = await h.start('branch-join', definition, { baseUrl: h.httpBase });
    const { result } = await h.outcome(handle, 'branch-join');
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.big).toEqual({ result: true });
    expect(result?.outputs.bulk).toMatchObject({ status: 201, body: { received: 12 } });
    const state = await handle.query(stateQuery);
    expect(state.nodes.one!.status).toBe('SKIPPED');
    expect(state.nodes.done!.status).toBe('SUCCEEDED');
    expect(state.progress).toEqual({ total: 5, done: 5 });
  });

  serverIt('runs 20 ready nodes in parallel', async (h) => {
    const ids = Array.from({ length: 20 }, (_, i) => `p${i}`);
    const definition: WorkflowDefinition = {
      name: 'fan-out',
      nodes: [
        { id: 'start', type: 'noop' },
        ...ids.map((id) => ({ id, type: 'probe', config: { sleepMs: 1500 } })),
        { id: 'join', type: 'noop' },
      ],
      edges: [...ids.map((id) => ({ from: 'start', to: id })), ...ids.map((id) => ({ from: id, to: 'join' }))],
    };
    const handle = await h.start('parallel-20', definition);
    const { result } = await h.outcome(handle, 'parallel-20');
    expect(result?.status).toBe('SUCCEEDED');
    const events = probeJournal.get(handle.workflowId)!;
    const starts = events.filter((e) => e.event === 'start').map((e) => e.at);
    const ends = events.filter((e) => e.event === 'end').map((e) => e.at);
    expect(starts).toHaveLength(20);
    // Every node started before any finished: they really overlapped.
    expect(Math.max(...starts)).toBeLessThan(Math.min(...ends));
  });

  serverIt('retries a failing activity and reports the attempt that succeeded', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'retry',
      nodes: [{ id: 'flaky', type: 'probe', config: { failTimes: 2 }, retry: { maximumAttempts: 5, initialInterval: '100ms' } }],
    };
    const handle = await h.start('retry-then-success', definition);
    const { result } = await h.outcome(handle, 'retry-then-success');
    expect(result?.status).toBe('SUCCEEDED');
    const state = await handle.query(stateQuery);
    expect(state.nodes.flaky).toMatchObject({ status: 'SUCCEEDED', attempt: 3 });
  });

  serverIt('does not retry a 404 and fails the run naming the node', async (h) => {
    const before = h.httpRequests.filter((r) => r.url === '/missing').length;
    const definition: WorkflowDefinition = {
      name: 'not-found',
      nodes: [{ id: 'get', type: 'http', config: { url: `${h.httpBase}/missing` }, retry: { maximumAttempts: 5, initialInterval: '100ms' } }],
    };
    const handle = await h.start('http-404', definition);
    const { result, error } = await h.outcome(handle, 'http-404');
    expect(error?.cause?.message).toMatch(/node "get" failed/);
    expect(result?.status).toBe('FAILED');
    expect(result?.error).toMatchObject({ nodeId: 'get', type: 'HttpClientError' });
    expect(h.httpRequests.filter((r) => r.url === '/missing').length - before).toBe(1);
    const state = await handle.query(stateQuery);
    expect(state.nodes.get).toMatchObject({ status: 'FAILED', attempt: 1 });
  });

  serverIt('times out an activity on startToClose and counts the attempts', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'timeout',
      nodes: [
        { id: 'slow', type: 'probe', config: { sleepMs: 10_000 }, timeout: { startToClose: '1s' }, retry: { maximumAttempts: 2, initialInterval: '100ms' } },
      ],
    };
    const handle = await h.start('start-to-close-timeout', definition);
    const { result } = await h.outcome(handle, 'start-to-close-timeout');
    expect(result?.status).toBe('FAILED');
    expect(result?.error?.type).toBe('ActivityTimeout');
    const state = await handle.query(stateQuery);
    expect(state.nodes.slow).toMatchObject({ status: 'FAILED', attempt: 2 });
  });

  serverIt('continues past a failed node with onError continue and runs all_done cleanup', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'continue',
      nodes: [
        { id: 'a', type: 'probe', config: { failTimes: 9, nonRetryable: true }, onError: 'continue' },
        { id: 'b', type: 'noop' },
        { id: 'cleanup', type: 'transform', trigger: 'all_done', config: { expression: 'nodes.a.status' } },
      ],
      edges: [
        { from: 'a', to: 'b' },
        { from: 'a', to: 'cleanup' },
      ],
    };
    const handle = await h.start('on-error-continue', definition);
    const { result } = await h.outcome(handle, 'on-error-continue');
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.cleanup).toBe('FAILED');
    const state = await handle.query(stateQuery);
    expect(state.nodes.a!.status).toBe('FAILED');
    expect(state.nodes.b!.status).toBe('SKIPPED');
  });

  serverIt('takes an error edge only when its source fails', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'error-edge',
      nodes: [
        { id: 'charge', type: 'probe', config: { failTimes: 9, nonRetryable: true, failType: 'CardDeclined' } },
        { id: 'ship', type: 'noop' },
        { id: 'refund', type: 'transform', config: { expression: 'nodes.charge.error.type' } },
      ],
      edges: [
        { from: 'charge', to: 'ship' },
        { from: 'charge', to: 'refund', on: 'error' },
      ],
    };
    const handle = await h.start('error-edge', definition);
    const { result } = await h.outcome(handle, 'error-edge');
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.refund).toBe('CardDeclined');
    expect((await handle.query(stateQuery)).nodes.ship!.status).toBe('SKIPPED');
  });

  serverIt('cancels a run mid-delay and mid-activity through the cancel signal', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'cancel',
      nodes: [
        { id: 'wait', type: 'delay', config: { duration: '1h' } },
        { id: 'work', type: 'probe', config: { sleepMs: 60_000 } },
        { id: 'after', type: 'noop' },
      ],
      edges: [{ from: 'wait', to: 'after' }],
    };
    const handle = await h.start('cancel-signal', definition);
    await waitForState(handle, (s) => s.nodes.wait!.status === 'WAITING' && s.nodes.work!.status === 'RUNNING');
    await waitFor(() => probeJournal.get(handle.workflowId)?.some((e) => e.event === 'start') ?? false);
    await handle.signal(cancelSignal, { reason: 'operator changed their mind' });
    const { result } = await h.outcome(handle, 'cancel-signal');
    expect(result?.status).toBe('CANCELLED');
    expect(result?.error?.message).toBe('operator changed their mind');
    const state = await handle.query(stateQuery);
    expect(state.status).toBe('CANCELLED');
    expect(Object.values(state.nodes).map((n) => n.status)).toEqual(['CANCELLED', 'CANCELLED', 'CANCELLED']);
    // The activity itself was told (through its heartbeat) and stopped.
    await waitFor(() => probeJournal.get(handle.workflowId)!.some((e) => e.event === 'cancelled'));
  });

  serverIt('waits for approval, then runs the approved branch', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'approval',
      nodes: [
        { id: 'gate', type: 'approval', config: { timeout: '1h' } },
        { id: 'go', type: 'transform', config: { expression: 'nodes.gate.output.data.note' } },
      ],
      edges: [{ from: 'gate', to: 'go' }],
    };
    const handle = await h.start('approval', definition);
    await waitForState(handle, (s) => s.nodes.gate!.status === 'WAITING');
    await handle.signal(approveSignal, { nodeId: 'gate', approved: true, by: 'alice', data: { note: 'ship it' } });
    const { result } = await h.outcome(handle, 'approval');
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.gate).toEqual({ approved: true, by: 'alice', data: { note: 'ship it' } });
    expect(result?.outputs.go).toBe('ship it');
  });

  serverIt('applies onTimeout when nobody decides an approval', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'approval-timeout',
      nodes: [{ id: 'gate', type: 'approval', config: { timeout: '1s', onTimeout: 'approve' } }],
    };
    const handle = await h.start('approval-timeout', definition);
    const { result } = await h.outcome(handle, 'approval-timeout');
    expect(result?.outputs.gate).toEqual({ approved: true, by: 'timeout', data: null });
  });

  serverIt('runs a stored workflow as a child dagWorkflow', async (h) => {
    await h.store('child-wf', {
      name: 'child',
      nodes: [{ id: 'double', type: 'transform', config: { expression: 'input.n * 2' } }],
    });
    const definition: WorkflowDefinition = {
      name: 'parent',
      nodes: [
        { id: 'sub', type: 'subworkflow', config: { workflowId: 'child-wf', input: { n: '{{ input.n }}' } } },
        { id: 'use', type: 'transform', config: { expression: 'nodes.sub.output.double + 1' } },
      ],
      edges: [{ from: 'sub', to: 'use' }],
    };
    const handle = await h.start('subworkflow', definition, { n: 20 });
    const { result } = await h.outcome(handle, 'subworkflow');
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.sub).toEqual({ double: 40 });
    expect(result?.outputs.use).toBe(41);
  });

  serverIt('cancels parallel work when a node fails the run', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'fail-fast',
      nodes: [
        { id: 'boom', type: 'fail', config: { message: 'bad input', type: 'BadInput' } },
        { id: 'long', type: 'probe', config: { sleepMs: 60_000 } },
        { id: 'next', type: 'noop' },
        { id: 'cleanup', type: 'noop', trigger: 'all_done' },
      ],
      edges: [
        { from: 'long', to: 'next' },
        { from: 'next', to: 'cleanup' },
      ],
    };
    const handle = await h.start('fail-fast', definition);
    const { result } = await h.outcome(handle, 'fail-fast');
    expect(result?.status).toBe('FAILED');
    expect(result?.error).toMatchObject({ nodeId: 'boom', type: 'BadInput', message: 'node "boom" failed: bad input' });
    const state = await handle.query(stateQuery);
    expect(state.nodes.long!.status).toBe('CANCELLED');
    expect(state.nodes.next!.status).toBe('SKIPPED');
    // Cleanup still runs, even behind a node the failure skipped.
    expect(state.nodes.cleanup!.status).toBe('SUCCEEDED');
  });

  serverIt('bounds activities in flight by maxConcurrency', async (h) => {
    const ids = Array.from({ length: 8 }, (_, i) => `q${i}`);
    const definition: WorkflowDefinition = {
      name: 'bounded',
      defaults: { maxConcurrency: 3 },
      nodes: ids.map((id) => ({ id, type: 'probe', config: { sleepMs: 300 } })),
    };
    const handle = await h.start('max-concurrency', definition);
    const { result } = await h.outcome(handle, 'max-concurrency');
    expect(result?.status).toBe('SUCCEEDED');
    const events = probeJournal.get(handle.workflowId)!.filter((e) => e.event !== 'fail');
    let inFlight = 0;
    let peak = 0;
    for (const e of [...events].sort((a, b) => a.at - b.at || (a.event === 'end' ? -1 : 1))) {
      inFlight += e.event === 'start' ? 1 : -1;
      peak = Math.max(peak, inFlight);
    }
    expect(peak).toBe(3);
  });

  serverIt('fails the run when an approval is rejected', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'reject',
      nodes: [
        { id: 'gate', type: 'approval' },
        { id: 'deploy', type: 'noop' },
      ],
      edges: [{ from: 'gate', to: 'deploy' }],
    };
    const handle = await h.start('approval-rejected', definition);
    // A decision that arrives before the node waits is kept, not lost.
    await handle.signal(approveSignal, { nodeId: 'gate', approved: false, by: 'bob' });
    const { result } = await h.outcome(handle, 'approval-rejected');
    expect(result?.status).toBe('FAILED');
    expect(result?.error).toMatchObject({ nodeId: 'gate', type: 'ApprovalRejected' });
    expect((await handle.query(stateQuery)).nodes.deploy!.status).toBe('SKIPPED');
  });

  serverIt('ends CANCELLED in Temporal when cancelled through Temporal itself', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'native-cancel',
      nodes: [{ id: 'wait', type: 'delay', config: { duration: '1h' } }],
    };
    const handle = await h.start('temporal-cancel', definition);
    await waitForState(handle, (s) => s.nodes.wait!.status === 'WAITING');
    await handle.cancel();
    const { error } = await h.outcome(handle, 'temporal-cancel');
    expect(error?.cause?.name).toBe('CancelledFailure');
    const description = await handle.describe();
    expect(description.status.name).toBe('CANCELLED');
    expect((await handle.query(stateQuery)).nodes.wait!.status).toBe('CANCELLED');
  });

  serverIt('resolves templates against input, node outputs and execution info', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'templates',
      nodes: [
        { id: 'a', type: 'probe', config: { value: { items: '{{ input.items }}', label: 'n={{ $count(input.items) }}' } } },
        { id: 'b', type: 'transform', config: { expression: '$sum(nodes.a.output.value.items)' } },
        { id: 'c', type: 'probe', config: { value: '{{ execution.id & "/" & nodes.b.output }}' } },
      ],
      edges: [
        { from: 'a', to: 'b' },
        { from: 'b', to: 'c' },
      ],
    };
    const handle = await h.start('templates', definition, { items: [1, 2, 3] });
    const { result } = await h.outcome(handle, 'templates');
    expect(result?.outputs.a).toEqual({ value: { items: [1, 2, 3], label: 'n=3' }, attempt: 1 });
    expect(result?.outputs.b).toBe(6);
    expect(result?.outputs.c).toEqual({ value: `${handle.workflowId}/6`, attempt: 1 });
  });
});

async function waitFor(pred: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
