import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { reconcileOnce } from '../../src/persistence/reconciler';
import { DAG_WORKFLOW_TYPE, cancelSignal, stateQuery } from '../../src/contracts/dag-workflow';
import { probeJournal } from '../support/probe-node';
import { startHarness, type Harness } from './harness';

let h: Harness | undefined;
beforeAll(async () => {
  h = await startHarness('status mirror server tests');
});
afterAll(async () => h?.close());

function serverIt(name: string, fn: (h: Harness) => Promise<void>): void {
  it(name, async (ctx) => {
    if (!h) return ctx.skip();
    await fn(h);
  });
}

const chain: WorkflowDefinition = {
  name: 'mirrored',
  nodes: [
    { id: 'a', type: 'probe', config: { value: 1, failTimes: 1 }, retry: { initialInterval: '100ms' } },
    { id: 'b', type: 'transform', config: { expression: 'nodes.a.output.value + 1' } },
    { id: 'c', type: 'noop', trigger: 'all_success' },
    { id: 'skipped', type: 'noop' },
    { id: 'gate', type: 'condition', config: { expression: 'false' } },
  ],
  edges: [
    { from: 'a', to: 'b' },
    { from: 'b', to: 'c' },
    { from: 'gate', to: 'skipped', when: 'true' },
  ],
};

async function startStored(h: Harness, name: string, workflowId: string, extra: Record<string, unknown> = {}) {
  return h.server.env.client.workflow.start(DAG_WORKFLOW_TYPE, {
    taskQueue: h.taskQueue,
    workflowId: `${name}-${randomUUID()}`,
    args: [{ workflowId, input: { from: 'temporal' }, ...extra }],
  });
}

describe('the Postgres mirror, written by the workflow itself', () => {
  serverIt('mirrors a run started straight through Temporal: run row, every node, attempts and outputs', async (h) => {
    const version = await h.store('wf_chain', chain);
    const handle = await startStored(h, 'mirror-external', 'wf_chain');
    const { result } = await h.outcome(handle, 'mirror-external');
    expect(result?.status).toBe('SUCCEEDED');
    const run = await h.database.db.execution.findUniqueOrThrow({ where: { id: handle.workflowId }, include: { nodeRuns: true } });
    expect(run).toMatchObject({ status: 'SUCCEEDED', trigger: 'EXTERNAL', version, workflowId: 'wf_chain', input: { from: 'temporal' } });
    expect(run.finishedAt).toBeInstanceOf(Date);
    expect(run.output).toEqual(result?.outputs);
    const state = await handle.query(stateQuery);
    const byId = Object.fromEntries(run.nodeRuns.map((n) => [n.nodeId, n]));
    for (const [id, node] of Object.entries(state.nodes)) {
      expect({ id, status: byId[id]?.status, attempt: byId[id]?.attempt }).toEqual({ id, status: node.status, attempt: node.attempt });
    }
    expect(byId.a).toMatchObject({ status: 'SUCCEEDED', attempt: 2, output: { value: 1, attempt: 2 } });
    expect(byId.b).toMatchObject({ status: 'SUCCEEDED', output: 2 });
    expect(byId.skipped!.status).toBe('SKIPPED');
  });

  serverIt('records a failed run with the failing node, and a cancelled one', async (h) => {
    await h.store('wf_fails', { name: 'fails', nodes: [{ id: 'boom', type: 'fail', config: { message: 'no', type: 'Nope' } }] });
    const failed = await startStored(h, 'mirror-failed', 'wf_fails');
    await h.outcome(failed, 'mirror-failed');
    const failedRow = await h.database.db.execution.findUniqueOrThrow({ where: { id: failed.workflowId } });
    expect(failedRow).toMatchObject({ status: 'FAILED', error: { nodeId: 'boom', type: 'Nope' } });

    await h.store('wf_waits', { name: 'waits', nodes: [{ id: 'wait', type: 'delay', config: { duration: '1h' } }] });
    const cancelled = await startStored(h, 'mirror-cancelled', 'wf_waits');
    await waitForRow(h, cancelled.workflowId, (r) => r.nodeRuns.some((n) => n.status === 'WAITING'));
    await cancelled.signal(cancelSignal, { reason: 'stop' });
    await h.outcome(cancelled, 'mirror-cancelled');
    const row = await h.database.db.execution.findUniqueOrThrow({ where: { id: cancelled.workflowId }, include: { nodeRuns: true } });
    expect(row.status).toBe('CANCELLED');
    expect(row.nodeRuns.map((n) => n.status)).toEqual(['CANCELLED']);
  });

  serverIt('reconciles a run terminated from outside', async (h) => {
    await h.store('wf_term', { name: 'term', nodes: [{ id: 'wait', type: 'delay', config: { duration: '1h' } }] });
    const handle = await startStored(h, 'mirror-terminated', 'wf_term');
    await waitForRow(h, handle.workflowId, (r) => r.nodeRuns.some((n) => n.status === 'WAITING'));
    await handle.terminate('operator pulled the plug');
    const temporal = createTemporalGateway(h.server.env.client, h.taskQueue);
    await reconcileOnce({ db: h.database.db, temporal, graceMs: 0 });
    const row = await h.database.db.execution.findUniqueOrThrow({ where: { id: handle.workflowId }, include: { nodeRuns: true } });
    expect(row).toMatchObject({ status: 'CANCELLED', error: { type: 'Terminated' } });
    expect(row.nodeRuns[0]!.status).toBe('CANCELLED');
  });

  serverIt('retry from failure reuses outputs of nodes that succeeded instead of running them', async (h) => {
    await h.store('wf_retry', {
      name: 'retry',
      nodes: [
        { id: 'expensive', type: 'probe', config: { value: 'fresh' } },
        { id: 'use', type: 'transform', config: { expression: 'nodes.expensive.output.value' } },
      ],
      edges: [{ from: 'expensive', to: 'use' }],
    });
    const handle = await startStored(h, 'retry-reuse', 'wf_retry', { reuse: { expensive: { value: 'reused' } } });
    const { result } = await h.outcome(handle, 'retry-reuse');
    expect(result?.outputs).toEqual({ expensive: { value: 'reused' }, use: 'reused' });
    expect(probeJournal.get(handle.workflowId)).toBeUndefined();
    expect((await handle.query(stateQuery)).nodes.expensive).toMatchObject({ status: 'SUCCEEDED', attempt: 0 });
  });
});

describe('node activities writing their own results', () => {
  serverIt('a mirrored run hands each activity node a reserved seq, and the workflow keeps that seq for the result', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'ahead',
      nodes: [
        { id: 'one', type: 'probe', config: { value: 1 } },
        { id: 'two', type: 'probe', config: { value: 2 } },
      ],
      edges: [{ from: 'one', to: 'two' }],
    };
    await h.store('wf_ahead', definition);
    const mirrored = await startStored(h, 'mirror-ahead', 'wf_ahead');
    await h.outcome(mirrored, 'mirror-ahead');
    const tickets = await scheduledTickets(mirrored);
    expect(Object.keys(tickets).sort()).toEqual(['one', 'two']);
    const rows = await h.database.db.nodeRun.findMany({ where: { executionId: mirrored.workflowId } });
    // In a chain nothing else happens while a node runs: the workflow's write reuses the reserved seq.
    for (const row of rows) expect({ node: row.nodeId, status: row.status, seq: row.lastSeq }).toEqual({ node: row.nodeId, status: 'SUCCEEDED', seq: tickets[row.nodeId]!.seq });

    // Not mirrored (inline definition, no stored workflow): no ticket, nothing to write.
    const inline = await h.server.env.client.workflow.start(DAG_WORKFLOW_TYPE, {
      taskQueue: h.taskQueue,
      workflowId: `mirror-ahead-inline-${randomUUID()}`,
      args: [{ definition }],
    });
    await h.outcome(inline, 'mirror-ahead-inline');
    expect(await scheduledTickets(inline)).toEqual({});
  });
});

/** The mirror ticket in each node activity's scheduled input, by node id. */
async function scheduledTickets(handle: { fetchHistory(): Promise<{ events?: unknown[] | null }> }) {
  const history = await handle.fetchHistory();
  const tickets: Record<string, { seq: number; type: string; startedAt: string }> = {};
  for (const event of (history.events ?? []) as { activityTaskScheduledEventAttributes?: { input?: { payloads?: { data?: Uint8Array | null }[] | null } | null } | null }[]) {
    const payload = event.activityTaskScheduledEventAttributes?.input?.payloads?.[0]?.data;
    if (!payload) continue;
    const input = JSON.parse(Buffer.from(payload).toString('utf8')) as { nodeId?: string; mirror?: { seq: number; type: string; startedAt: string } };
    if (input.nodeId && input.mirror) tickets[input.nodeId] = input.mirror;
  }
  return tickets;
}

async function waitForRow(
  h: Harness,
  id: string,
  pred: (row: { nodeRuns: { status: string }[] }) => boolean,
): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const row = await h.database.db.execution.findUnique({ where: { id }, include: { nodeRuns: true } });
    if (row && pred(row)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`row ${id} never matched`);
}
