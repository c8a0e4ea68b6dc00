import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../src/worker';
import type { WorkflowDefinition } from '../../src/domain/definition';
import type { MapOutput } from '../../src/domain/iteration';
import { cancelSignal, stateQuery } from '../../src/contracts/dag-workflow';
import { probeJournal, type ProbeEvent } from '../support/probe-node';
import { HISTORIES_DIR, startHarness, type Harness } from './harness';

let h: Harness | undefined;
beforeAll(async () => {
  h = await startHarness('map and loop server tests');
});
afterAll(async () => h?.close());

function serverIt(name: string, fn: (h: Harness) => Promise<void>, timeout = 60_000): void {
  it(name, async (ctx) => {
    if (!h) return ctx.skip();
    await fn(h);
  }, timeout);
}

/** Probe events of a run and of every child it started (their ids start with the run's id). */
function journalOf(executionId: string): ProbeEvent[] {
  return [...probeJournal.entries()].filter(([id]) => id === executionId || id.startsWith(`${executionId}.`)).flatMap(([, events]) => events);
}

async function until<T>(fn: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const value = fn();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never happened: ${what}`);
}

/**
 * The runs of a map or loop child that continued as new: each must replay, and with
 * TRELLIS_RECORD_HISTORIES=1 the first is kept as a fixture for the replay test.
 */
async function listRuns(client: Harness['server']['env']['client'], workflowId: string): Promise<{ runId: string; status: string }[]> {
  const runs = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs.push({ runId: w.runId, status: w.status.name });
  return runs;
}

async function checkContinuedRuns(h: Harness, workflowId: string, name: string): Promise<number> {
  const client = h.server.env.client;
  // Visibility records are written after the runs close (asynchronously on a busy server): wait
  // until they show the chain ended (a COMPLETED run, none RUNNING) before counting.
  let runs: Awaited<ReturnType<typeof listRuns>> = [];
  for (const until = Date.now() + 15_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
    runs = await listRuns(client, workflowId);
    if (runs.some((w) => w.status === 'COMPLETED') && !runs.some((w) => w.status === 'RUNNING')) break;
  }
  const continued = runs.filter((w) => w.status === 'CONTINUED_AS_NEW');
  for (const run of continued) {
    const history = await client.workflow.getHandle(workflowId, run.runId).fetchHistory();
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, history, workflowId);
    if (process.env.TRELLIS_RECORD_HISTORIES === '1' && run === continued[continued.length - 1]) {
      await fs.writeFile(path.join(HISTORIES_DIR, `${name}.json`), historyToJSON(history));
    }
  }
  return continued.length;
}

const probeMap = (config: Record<string, unknown>, probe: Record<string, unknown> = {}): WorkflowDefinition => ({
  name: 'map',
  nodes: [
    {
      id: 'each',
      type: 'map',
      config: {
        body: { nodes: [{ id: 'work', type: 'probe', config: { value: '{{ item * 10 }}', ...probe }, retry: { maximumAttempts: 1 } }], edges: [] },
        output: 'nodes.work.output.value',
        ...config,
      },
    },
    { id: 'after', type: 'transform', config: { expression: 'nodes.each.output.counts' } },
  ],
  edges: [{ from: 'each', to: 'after' }],
});

describe('map nodes on a real Temporal server', () => {
  serverIt('maps a fetched list through a body with an http node, results in item order (inline)', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'orders',
      nodes: [
        { id: 'list', type: 'http', config: { method: 'GET', url: "{{ input.base & '/orders?count=7' }}" } },
        {
          id: 'each_order',
          type: 'map',
          config: {
            items: 'nodes.list.output.body',
            maxConcurrency: 3,
            body: {
              nodes: [
                { id: 'post', type: 'http', config: { method: 'POST', url: "{{ input.base & '/bulk' }}", body: '{{ [item] }}' } },
                { id: 'shape', type: 'transform', config: { expression: '{ "id": item.id, "i": index, "got": nodes.post.output.body.received, "n": $count(nodes.list.output.body) }' } },
              ],
              edges: [{ from: 'post', to: 'shape' }],
            },
          },
        },
      ],
      edges: [{ from: 'list', to: 'each_order' }],
    };
    const handle = await h.start('map-inline', definition, { base: h.httpBase });
    const { result } = await h.outcome(handle, 'map-inline');
    expect(result?.status).toBe('SUCCEEDED');
    const out = result!.outputs.each_order as MapOutput;
    expect(out.counts).toEqual({ total: 7, succeeded: 7, failed: 0 });
    expect(out.results).toEqual(Array.from({ length: 7 }, (_, i) => ({ id: i + 1, i, got: 1, n: 7 })));
    expect(out.failures).toEqual([]);
  });

  serverIt('nests: a loop and a map inside a map body see their own item and the enclosing one', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'nested',
      nodes: [
        { id: 'base', type: 'transform', config: { expression: '100' } },
        {
          id: 'outer',
          type: 'map',
          config: {
            items: '[1, 2, 3]',
            body: {
              nodes: [
                {
                  id: 'count',
                  type: 'loop',
                  config: { body: { nodes: [{ id: 'step', type: 'transform', config: { expression: 'iteration' } }] }, until: 'iteration >= item', maxIterations: 5 },
                },
                {
                  id: 'inner',
                  type: 'map',
                  config: {
                    items: '[1..item]',
                    body: { nodes: [{ id: 'leaf', type: 'probe', config: { value: '{{ nodes.base.output + item }}' } }] },
                    output: 'nodes.leaf.output.value',
                  },
                },
              ],
              edges: [{ from: 'count', to: 'inner' }],
            },
            output: '{ "loops": nodes.count.output.iterations, "inner": nodes.inner.output.results }',
          },
        },
      ],
      edges: [{ from: 'base', to: 'outer' }],
    };
    const handle = await h.start('map-nested', definition);
    const { result } = await h.outcome(handle, 'map-nested');
    expect(result?.status).toBe('SUCCEEDED');
    expect((result!.outputs.outer as MapOutput).results).toEqual([
      { loops: 1, inner: [101] },
      { loops: 2, inner: [101, 102] },
      { loops: 3, inner: [101, 102, 103] },
    ]);
    const ids = (await handle.fetchHistory()).events!.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityId ?? []);
    expect(ids).toContain('outer[2].inner[1].leaf');
  });

  serverIt('an empty list succeeds with empty results', async (h) => {
    const handle = await h.start('map-empty', probeMap({ items: '[]' }));
    const { result } = await h.outcome(handle, 'map-empty');
    expect(result?.outputs.each).toEqual({ results: [], counts: { total: 0, succeeded: 0, failed: 0 }, failures: [] });
    expect(result?.outputs.after).toEqual({ total: 0, succeeded: 0, failed: 0 });
  });

  serverIt('runs items in batch children with a sliding window and continues as new', async (h) => {
    const handle = await h.start('map-batches', probeMap({ items: '[1..120]', maxConcurrency: 20 }), undefined, {
      iterationLimits: { inlineOperations: 10, batchSize: 10, historyEvents: 40 },
    });
    const { result } = await h.outcome(handle, 'map-batches');
    expect(result?.status).toBe('SUCCEEDED');
    const out = result!.outputs.each as MapOutput;
    expect(out.results).toEqual(Array.from({ length: 120 }, (_, i) => (i + 1) * 10));
    const client = h.server.env.client;
    const coordinator = `${handle.workflowId}.each`;
    expect(await checkContinuedRuns(h, coordinator, 'map-coordinator-continued')).toBeGreaterThanOrEqual(1);
    const batch = await client.workflow.getHandle(`${coordinator}.0-9`).describe();
    expect(batch.type).toBe('mapBatchWorkflow');
    // Every item ran exactly once.
    const starts = journalOf(handle.workflowId).filter((e) => e.event === 'start');
    expect(starts).toHaveLength(120);
  });

  serverIt('maps a list stored by reference and hands large results to a downstream activity by reference', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'big-list',
      nodes: [
        // ~300 KB of items: over the output store's threshold, so the run only holds a reference.
        { id: 'list', type: 'probe', config: { value: '{{ [1..300].{ "id": $, "pad": $pad("", 1000, "x") } }}' } },
        {
          id: 'each',
          type: 'map',
          config: {
            items: 'nodes.list.output.value',
            maxConcurrency: 100,
            body: { nodes: [{ id: 'pass', type: 'noop' }] },
            output: 'item',
          },
        },
        { id: 'post', type: 'http', config: { method: 'POST', url: "{{ input.base & '/bulk' }}", body: '{{ nodes.each.output.results }}' } },
        { id: 'count', type: 'transform', config: { expression: 'nodes.each.output.counts' } },
      ],
      edges: [
        { from: 'list', to: 'each' },
        { from: 'each', to: 'post' },
        { from: 'each', to: 'count' },
      ],
    };
    const handle = await h.start('map-stored-items', definition, { base: h.httpBase });
    const { result } = await h.outcome(handle, 'map-stored-items');
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.list).toMatchObject({ $trellisRef: expect.any(String) });
    expect(result?.outputs.count).toEqual({ total: 300, succeeded: 300, failed: 0 });
    expect((result?.outputs.each as MapOutput).results).toMatchObject({ $trellisRef: expect.any(String) });
    expect(result?.outputs.post).toMatchObject({ status: 201, body: { received: 300 } });
    const history = await h.server.env.client.workflow.getHandle(`${handle.workflowId}.each`).fetchHistory();
    expect(history.events!.length).toBeLessThan(200);
  }, 180_000);

  serverIt('a coordinator stores its inline batch results past its budget, so what it carries across continue-as-new stays small', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'map-compact',
      nodes: [
        {
          id: 'each',
          type: 'map',
          config: { items: '[0..119]', maxConcurrency: 20, body: { nodes: [{ id: 'pass', type: 'noop' }] }, output: "{ 'i': index, 'pad': $pad('', 60, 'x') }" },
        },
        { id: 'check', type: 'transform', config: { expression: '$page(nodes.each.output.results, 115, 10).i' } },
      ],
      edges: [{ from: 'each', to: 'check' }],
    };
    // ~0.8 KB of results per 10-item batch (inline: under 1 KB); the coordinator stores them once it holds 2 KB.
    const handle = await h.start('map-compact', definition, undefined, {
      iterationLimits: { inlineOperations: 10, batchSize: 10, historyEvents: 25, progressInlineBytes: 2_000 },
    });
    const { result } = await h.outcome(handle, 'map-compact');
    expect(result?.status).toBe('SUCCEEDED');
    const out = result!.outputs.each as MapOutput;
    expect(out.counts).toEqual({ total: 120, succeeded: 120, failed: 0 });
    const results = Array.isArray(out.results) ? (out.results as { i: number }[]) : undefined;
    expect(results?.map((r) => r.i)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(result?.outputs.check).toEqual([115, 116, 117, 118, 119]);
    const coordinator = `${handle.workflowId}.each`;
    expect(await checkContinuedRuns(h, coordinator, 'map-compacted-continued')).toBeGreaterThanOrEqual(1);
    const client = h.server.env.client;
    let compactions = 0;
    for await (const w of client.workflow.list({ query: `WorkflowId = "${coordinator}"` })) {
      const events = (await client.workflow.getHandle(coordinator, w.runId).fetchHistory()).events ?? [];
      compactions += events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'storeResultChunks').length;
      const started = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data?.length ?? 0;
      expect(started, 'a continued run starts with its results by reference').toBeLessThan(20_000);
    }
    expect(compactions).toBeGreaterThanOrEqual(2);
  }, 180_000);

  serverIt('a batch child hands back results over 1 KB by reference, so the coordinator history stays small', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'map-batch-refs',
      nodes: [
        {
          id: 'each',
          type: 'map',
          config: { items: '[0..29]', maxConcurrency: 10, body: { nodes: [{ id: 'pass', type: 'noop' }] }, output: "{ 'i': index, 'pad': $pad('', 150, 'x') }" },
        },
      ],
    };
    const handle = await h.start('map-batch-refs', definition, undefined, { iterationLimits: { inlineOperations: 10, batchSize: 10 } });
    const { result } = await h.outcome(handle, 'map-batch-refs');
    expect(result?.status).toBe('SUCCEEDED');
    expect(((result!.outputs.each as MapOutput).results as { i: number }[]).map((r) => r.i)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    const events = (await h.server.env.client.workflow.getHandle(`${handle.workflowId}.each`).fetchHistory()).events ?? [];
    const completions = events.flatMap((e) => e.childWorkflowExecutionCompletedEventAttributes?.result?.payloads ?? []);
    expect(completions).toHaveLength(3);
    // ~1.7 KB of results per batch; each completion carries a reference instead.
    for (const payload of completions) expect(payload.data!.length).toBeLessThan(600);
    const batch = await h.server.env.client.workflow.getHandle(`${handle.workflowId}.each.0-9`).fetchHistory();
    expect(batch.events!.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'storeMapResults')).toBe(true);
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, batch, `${handle.workflowId}.each.0-9`);
    if (process.env.TRELLIS_RECORD_HISTORIES === '1') await fs.writeFile(path.join(HISTORIES_DIR, 'map-batch-refs-batch.json'), historyToJSON(batch));
  }, 180_000);

  serverIt('downstream expressions read a large map result stored by reference: $page, indexed access, $count', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'map-stored-read',
      nodes: [
        {
          id: 'each',
          type: 'map',
          config: {
            items: '[0..299]',
            maxConcurrency: 100,
            body: { nodes: [{ id: 'pass', type: 'noop' }] },
            // ~1 KB per item: the joined results pass 256 KB and are stored by reference.
            output: "{ 'i': index, 'pad': $pad('', 1000, 'x') }",
          },
        },
        { id: 'page', type: 'transform', config: { expression: '$page(nodes.each.output.results, 297, 10).i' } },
        { id: 'pick', type: 'transform', config: { expression: 'nodes.each.output.results[150].i' } },
        { id: 'all', type: 'condition', config: { expression: '$count(nodes.each.output.results) = nodes.each.output.counts.total' } },
        { id: 'whole', type: 'transform', config: { expression: 'nodes.each.output.results' }, onError: 'continue' },
        { id: 'done', type: 'noop' },
      ],
      edges: [
        { from: 'each', to: 'page' },
        { from: 'each', to: 'pick' },
        { from: 'each', to: 'all' },
        { from: 'each', to: 'whole' },
        { from: 'all', to: 'done', when: 'true' },
      ],
    };
    const handle = await h.start('map-stored-read', definition);
    const { result } = await h.outcome(handle, 'map-stored-read');
    expect(result?.status).toBe('SUCCEEDED');
    expect((result?.outputs.each as MapOutput).results).toMatchObject({ $trellisRef: expect.any(String) });
    expect(result?.outputs.page).toEqual([297, 298, 299]);
    expect(result?.outputs.pick).toBe(150);
    expect(result?.outputs.all).toEqual({ result: true });
    expect(result?.outputs.done).toEqual({});
    // Reading all 300 KB back into the run is refused with a typed error naming the way out.
    const state = await handle.query(stateQuery);
    expect(state).toMatchObject({ nodes: { whole: { status: 'FAILED', error: { type: 'OutputLimitExceeded', message: expect.stringMatching(/\$page/) } } } });
  }, 180_000);

  serverIt('tolerates failures up to the limit, with null results and a failures list', async (h) => {
    const definition = probeMap({ items: '[0..9]', toleratedFailures: { count: 3 } }, { failTimes: '{{ item % 4 = 0 ? 9 : 0 }}', nonRetryable: true });
    const handle = await h.start('map-tolerated', definition);
    const { result } = await h.outcome(handle, 'map-tolerated');
    expect(result?.status).toBe('SUCCEEDED');
    const out = result!.outputs.each as MapOutput;
    expect(out.counts).toEqual({ total: 10, succeeded: 7, failed: 3 });
    expect(out.results).toEqual([null, 10, 20, 30, null, 50, 60, 70, null, 90]);
    expect(out.failures.map((f) => [f.index, f.error.type])).toEqual([[0, 'ProbeFailure'], [4, 'ProbeFailure'], [8, 'ProbeFailure']]);
  });

  serverIt('fails past the tolerated failures and cancels the remaining items', async (h) => {
    const definition = probeMap(
      { items: '[0..29]', maxConcurrency: 2, toleratedFailures: { percent: 5 } },
      { failTimes: '{{ item >= 2 ? 9 : 0 }}', nonRetryable: true },
    );
    const handle = await h.start('map-over-tolerance', definition);
    const { result } = await h.outcome(handle, 'map-over-tolerance');
    expect(result?.status).toBe('FAILED');
    expect(result?.error?.type).toBe('MapItemsFailed');
    const starts = journalOf(handle.workflowId).filter((e) => e.event === 'start');
    expect(starts.length).toBeLessThan(10);
  });

  serverIt('cancelling the run cancels every running item, inline and in batch children', async (h) => {
    for (const [name, limits] of [
      ['map-cancel', undefined],
      ['map-cancel-batches', { inlineOperations: 1, batchSize: 4 }],
    ] as const) {
      const definition = probeMap({ items: '[1..20]', maxConcurrency: 8 }, { sleepMs: 60_000 });
      const handle = await h.start(name, definition, undefined, limits ? { iterationLimits: limits } : {});
      await until(() => (journalOf(handle.workflowId).filter((e) => e.event === 'start').length >= 8 ? true : undefined), '8 items running');
      await handle.signal(cancelSignal, { reason: 'stop' });
      const { result } = await h.outcome(handle, name);
      expect(result?.status).toBe('CANCELLED');
      const events = journalOf(handle.workflowId);
      expect(events.filter((e) => e.event === 'start')).toHaveLength(8);
      await until(() => (events.filter((e) => e.event === 'cancelled').length === 8 ? true : undefined), 'every item cancelled');
    }
  });

  serverIt('retry from failure re-runs only the items that did not succeed', async (h) => {
    // One item at a time: items 3 and 7 fail, the second failure is past the tolerated one, 8 and 9 never run.
    const definition = probeMap(
      { items: '[0..9]', maxConcurrency: 1, toleratedFailures: { count: 1 } },
      { failTimes: '{{ $contains(input.failing, "," & item & ",") ? 9 : 0 }}', nonRetryable: true },
    );
    const first = await h.start('map-retry-first', definition, { failing: ',3,7,' });
    const failed = await h.outcome(first, 'map-retry-first');
    expect(failed.result?.status).toBe('FAILED');
    const previous = ((await first.query('state' as never)) as { nodes: Record<string, { output: unknown }> }).nodes.each!.output as MapOutput;
    expect(previous.failures.map((f) => [f.index, f.error.type])).toEqual([[3, 'ProbeFailure'], [7, 'ProbeFailure'], [8, 'Cancelled'], [9, 'Cancelled']]);
    const second = await h.start('map-retry-second', definition, { failing: ',' }, { reuseItems: { each: previous } });
    const { result } = await h.outcome(second, 'map-retry-second');
    expect(result?.status).toBe('SUCCEEDED');
    expect((result!.outputs.each as MapOutput).results).toEqual(Array.from({ length: 10 }, (_, i) => i * 10));
    const reran = journalOf(second.workflowId).filter((e) => e.event === 'start');
    expect(reran).toHaveLength(4);
  });
});

describe('the mirror of map and loop nodes', () => {
  serverIt('writes one row per map item and the last keepLast loop iterations', async (h) => {
    const definition: WorkflowDefinition = {
      name: 'mirrored',
      nodes: [
        {
          id: 'each',
          type: 'map',
          config: {
            items: '[0..29]',
            toleratedFailures: { count: 5 },
            body: { nodes: [{ id: 'work', type: 'probe', config: { value: '{{ item }}', failTimes: '{{ item % 10 = 3 ? 9 : 0 }}', nonRetryable: true } }] },
            output: 'nodes.work.output.value',
          },
        },
        {
          id: 'poll',
          type: 'loop',
          config: {
            body: { nodes: [{ id: 'tick', type: 'transform', config: { expression: 'iteration * 10' } }] },
            until: 'iteration = 6',
            maxIterations: 10,
            keepLast: 2,
          },
        },
      ],
    };
    const workflowId = `mirrored-${Date.now()}`;
    const version = await h.store(workflowId, definition);
    const handle = await h.start('map-mirrored', definition, undefined, { workflowId, version });
    const { result } = await h.outcome(handle, 'map-mirrored');
    expect(result?.status).toBe('SUCCEEDED');
    const db = h.database.db;
    const items = await db.mapItem.findMany({ where: { executionId: handle.workflowId, nodeId: 'each' }, orderBy: { index: 'asc' } });
    expect(items.map((i) => i.index)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(items.filter((i) => i.status === 'FAILED').map((i) => i.index)).toEqual([3, 13, 23]);
    expect(items[4]).toMatchObject({ status: 'SUCCEEDED', output: 4, attempt: 1 });
    const kept = await db.mapItem.findMany({ where: { executionId: handle.workflowId, nodeId: 'poll' }, orderBy: { index: 'asc' } });
    expect(kept.map((k) => [k.index, k.output])).toEqual([[5, 50], [6, 60]]);
    // Both ran inside the run's own workflow (small enough to stay inline).
    expect(new Set([...items, ...kept].map((r) => r.workflowId))).toEqual(new Set([handle.workflowId]));
  });

  serverIt('records with each item the workflow and run that ran it: the run itself for a small map, batch children for a large one', async (h) => {
    const body = (id: string) => ({ nodes: [{ id, type: 'noop' }] });
    const definition: WorkflowDefinition = {
      name: 'item-workflows',
      nodes: [
        { id: 'small', type: 'map', config: { items: '[0..2]', body: body('a') } },
        { id: 'big', type: 'map', config: { items: '[0..24]', maxConcurrency: 10, body: body('b') } },
      ],
    };
    const workflowId = `item-workflows-${Date.now()}`;
    const version = await h.store(workflowId, definition);
    const handle = await h.start('map-item-workflows', definition, undefined, { workflowId, version, iterationLimits: { inlineOperations: 10, batchSize: 10 } });
    const { result } = await h.outcome(handle, 'map-item-workflows');
    expect(result?.status).toBe('SUCCEEDED');
    const rows = await h.database.db.mapItem.findMany({ where: { executionId: handle.workflowId }, orderBy: [{ nodeId: 'asc' }, { index: 'asc' }] });
    const ranBy = (nodeId: string) => rows.filter((r) => r.nodeId === nodeId).map((r) => r.workflowId);
    expect(ranBy('small')).toEqual([handle.workflowId, handle.workflowId, handle.workflowId]);
    const batchOf = (i: number) => `${handle.workflowId}.big.${i - (i % 10)}-${Math.min(i - (i % 10) + 9, 24)}`;
    expect(ranBy('big')).toEqual(Array.from({ length: 25 }, (_, i) => batchOf(i)));
    // Each recorded workflow (and run) is one Temporal knows: the console's "body run" link opens it.
    const client = h.server.env.client;
    const recorded = new Map(rows.map((r) => [r.workflowId!, r.runId]));
    expect(recorded.size).toBe(4);
    for (const [id, runId] of recorded) {
      const described = await client.workflow.getHandle(id, runId ?? undefined).describe();
      expect(described.workflowId).toBe(id);
      expect(described.runId).toBe(runId);
      expect(described.status.name).toBe('COMPLETED');
    }
  }, 120_000);
});

describe('loop nodes on a real Temporal server', () => {
  const loop = (config: Record<string, unknown>): WorkflowDefinition => ({
    name: 'loop',
    nodes: [
      {
        id: 'poll',
        type: 'loop',
        config: {
          body: { nodes: [{ id: 'check', type: 'transform', config: { expression: '{ "n": iteration, "status": iteration >= input.doneAt ? "done" : "running" }' } }] },
          until: "nodes.check.output.status = 'done'",
          ...config,
        },
      },
    ],
  });

  serverIt('repeats the body until `until` holds, waiting the interval between iterations', async (h) => {
    const handle = await h.start('loop-until', loop({ maxIterations: 10, interval: '50ms', keepLast: 2 }), { doneAt: 4 });
    const { result } = await h.outcome(handle, 'loop-until');
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.poll).toEqual({
      iterations: 4,
      last: { n: 4, status: 'done' },
      recent: [
        { iteration: 3, result: { n: 3, status: 'running' } },
        { iteration: 4, result: { n: 4, status: 'done' } },
      ],
    });
    const history = await handle.fetchHistory();
    expect(history.events!.filter((e) => e.timerStartedEventAttributes).length).toBe(3);
  });

  serverIt('fails with LoopLimitExceeded at maxIterations', async (h) => {
    const handle = await h.start('loop-limit', loop({ maxIterations: 3 }), { doneAt: 99 });
    const { result } = await h.outcome(handle, 'loop-limit');
    expect(result?.status).toBe('FAILED');
    expect(result?.error?.type).toBe('LoopLimitExceeded');
  });

  serverIt('a long loop runs in a child that continues as new', async (h) => {
    const definition = loop({ maxIterations: 500 });
    definition.nodes[0]!.config!.body = {
      nodes: [
        { id: 'tick', type: 'probe', config: { value: '{{ iteration }}' } },
        { id: 'check', type: 'transform', config: { expression: '{ "status": nodes.tick.output.value >= input.doneAt ? "done" : "running" }' } },
      ],
      edges: [{ from: 'tick', to: 'check' }],
    };
    const handle = await h.start('loop-continue-as-new', definition, { doneAt: 30 }, { iterationLimits: { inlineOperations: 10, historyEvents: 50 } });
    const { result } = await h.outcome(handle, 'loop-continue-as-new');
    expect(result?.status).toBe('SUCCEEDED');
    expect(result?.outputs.poll).toEqual({ iterations: 30, last: { status: 'done' } });
    expect(await checkContinuedRuns(h, `${handle.workflowId}.poll`, 'loop-child-continued')).toBeGreaterThanOrEqual(2);
  });
});
