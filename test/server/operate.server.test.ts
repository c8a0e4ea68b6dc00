import { afterAll, beforeAll, describe, expect } from 'vitest';
import { createApiKey } from '../../src/services/api-keys';
import { serverTests, startApiHarness, type ApiHarness } from './harness';

/** Operating runs (DESIGN §6 and issue 27) through the API against a real Temporal server. */
let h: ApiHarness | undefined;
beforeAll(async () => {
  h = await startApiHarness('operate-runs server tests');
});
afterAll(async () => {
  await h?.close();
});
const serverIt = serverTests(() => h, 120_000);
const call: ApiHarness['call'] = (method, url, payload) => h!.call(method, url, payload);

interface Attempt {
  attempt: number;
  type: string;
  message: string;
  at: string;
}
interface RunView {
  id: string;
  status: string;
  nodes: { nodeId: string; status: string; attempt: number; output: unknown; failedAttempts: Attempt[]; reused: boolean }[];
  trigger?: string;
  rerunOf?: string | null;
}
const node = (run: RunView, id: string) => run.nodes.find((n) => n.nodeId === id)!;

// Generous: seven helpers share two cores, and a map's child runs queue behind theirs.
const until = (id: string, pred: (run: RunView) => boolean) => h!.untilRun(id, pred, 1000);

const startStored = (name: string, definition: object, input?: unknown) => h!.startViaApi({ name, ...definition }, { input });

const quick = { initialInterval: '50ms', backoffCoefficient: 1 };

describe('attempt history', () => {
  serverIt('a node that succeeded on attempt 3 says what attempts 1 and 2 failed with', async () => {
    const id = await startStored('flaky-then-fine', {
      nodes: [{ id: 'flaky', type: 'probe', config: { failTimes: 2, failType: 'UpstreamDown' }, retry: { maximumAttempts: 5, ...quick } }],
    });
    const done = await until(id, (r) => r.status !== 'RUNNING' && node(r, 'flaky').failedAttempts.length === 2);
    expect(done.status).toBe('SUCCEEDED');
    expect(node(done, 'flaky').attempt).toBe(3);
    expect(node(done, 'flaky').failedAttempts.map(({ attempt, type, message }) => ({ attempt, type, message }))).toEqual([
      { attempt: 1, type: 'UpstreamDown', message: 'probe flaky failed on attempt 1' },
      { attempt: 2, type: 'UpstreamDown', message: 'probe flaky failed on attempt 2' },
    ]);
    const [first, second] = node(done, 'flaky').failedAttempts;
    expect(Date.parse(first!.at)).toBeLessThanOrEqual(Date.parse(second!.at));
  });

  serverIt('a retry list (one activity per attempt) and a local node keep their failed attempts too; a failed node keeps its last', async () => {
    const id = await startStored('lists-and-locals', {
      nodes: [
        {
          id: 'listed',
          type: 'probe',
          config: { failTimes: 2, failType: 'RateLimited' },
          retry: [{ errors: ['RateLimited'], maximumAttempts: 4, ...quick }, { errors: ['*'], maximumAttempts: 1 }],
        },
        { id: 'local', type: 'probe', mode: 'local', config: { failTimes: 1 }, retry: { maximumAttempts: 3, ...quick } },
        { id: 'doomed', type: 'probe', config: { failTimes: 9, failType: 'Broken' }, retry: { maximumAttempts: 2, ...quick }, onError: 'continue' },
      ],
    });
    const done = await until(id, (r) => r.status !== 'RUNNING' && node(r, 'doomed').failedAttempts.length === 2);
    expect(node(done, 'listed').failedAttempts.map((a) => [a.attempt, a.type])).toEqual([
      [1, 'RateLimited'],
      [2, 'RateLimited'],
    ]);
    expect(node(done, 'local').failedAttempts.map((a) => [a.attempt, a.type])).toEqual([[1, 'ProbeFailure']]);
    expect(node(done, 'doomed').status).toBe('FAILED');
    expect(node(done, 'doomed').failedAttempts.map((a) => [a.attempt, a.message])).toEqual([
      [1, 'probe doomed failed on attempt 1'],
      [2, 'probe doomed failed on attempt 2'],
    ]);
  });

  serverIt('an attempt that runs past its startToClose is kept as ActivityTimeout', async () => {
    const id = await startStored('slow-then-fast', {
      nodes: [
        {
          id: 'slow',
          type: 'probe',
          config: { sleepMs: 5_000 },
          timeout: { startToClose: '1s' },
          retry: { maximumAttempts: 2, ...quick },
          onError: 'continue',
        },
      ],
    });
    const done = await until(id, (r) => r.status !== 'RUNNING' && node(r, 'slow').failedAttempts.length >= 1);
    expect(node(done, 'slow').failedAttempts[0]).toMatchObject({ attempt: 1, type: 'ActivityTimeout' });
  });

  serverIt("a map body's failing items are not mixed into any node's attempts", async () => {
    const id = await startStored('map-with-flaky-items', {
      nodes: [
        {
          id: 'each',
          type: 'map',
          config: {
            items: '[1, 2, 3]',
            body: { nodes: [{ id: 'item_probe', type: 'probe', config: { failTimes: 1 }, retry: { maximumAttempts: 2, ...quick } }], edges: [] },
          },
        },
      ],
    });
    const done = await until(id, (r) => r.status !== 'RUNNING');
    expect(done.status).toBe('SUCCEEDED');
    expect(node(done, 'each').failedAttempts).toEqual([]);
    expect(await h!.database.db.nodeAttempt.count({ where: { executionId: id } })).toBe(0);
  });
});

describe('map items live', () => {
  serverIt('a 200-item map shows finished items from the first one, long before 250 are done', async () => {
    const id = await startStored('live-items', {
      nodes: [
        {
          id: 'each',
          type: 'map',
          config: {
            items: '[1..200]',
            maxConcurrency: 10,
            body: { nodes: [{ id: 'slow_item', type: 'probe', config: { sleepMs: 150 } }], edges: [] },
          },
        },
      ],
    });
    let seenWhileRunning = 0;
    const writesSeen = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const run = (await call('GET', `/executions/${id}`)).json() as RunView;
      const items = (await call('GET', `/executions/${id}/nodes/each/items?limit=1`)).json() as { counts: { recorded: number } };
      if (node(run, 'each').status === 'RUNNING' && items.counts.recorded > 0) {
        seenWhileRunning = Math.max(seenWhileRunning, items.counts.recorded);
        writesSeen.add(items.counts.recorded);
      }
      if (run.status !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(seenWhileRunning).toBeGreaterThan(0);
    expect(seenWhileRunning).toBeLessThan(200);
    expect(writesSeen.size).toBeGreaterThan(1); // counts grew step by step, not all at the end
    const done = (await call('GET', `/executions/${id}/nodes/each/items?limit=1`)).json() as { counts: { recorded: number; succeeded: number } };
    expect(done.counts).toMatchObject({ recorded: 200, succeeded: 200 });
  });
});

describe('rerun from any node', () => {
  const chain = {
    nodes: [
      { id: 'fetch', type: 'probe', config: { value: 5 } },
      { id: 'double', type: 'transform', config: { expression: 'nodes.fetch.output.value * 2' } },
      { id: 'ship', type: 'transform', config: { expression: 'nodes.double.output + input.add' } },
    ],
    edges: [
      { from: 'fetch', to: 'double' },
      { from: 'double', to: 'ship' },
    ],
  };

  serverIt('reruns from a node with an edited upstream output and a new input; kept nodes are reused, not run', async () => {
    const id = await startStored('rerun-chain', chain, { add: 1 });
    const first = await until(id, (r) => r.status !== 'RUNNING');
    expect(first.status).toBe('SUCCEEDED');
    expect(node(first, 'ship').output).toBe(11);

    const res = await call('POST', `/executions/${id}/rerun`, { fromNodes: ['double'], outputs: { fetch: { value: 50 } }, input: { add: 2 } });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ trigger: 'RERUN', rerunOf: id, retryOf: null, reused: ['fetch'], rerun: ['double', 'ship'] });
    const again = await until(res.json().id, (r) => r.status !== 'RUNNING');
    expect(again.status).toBe('SUCCEEDED');
    expect(again.rerunOf).toBe(id);
    expect(node(again, 'fetch')).toMatchObject({ status: 'SUCCEEDED', reused: true, attempt: 0, output: { value: 50 } });
    expect(node(again, 'double')).toMatchObject({ reused: false, output: 100 });
    expect(node(again, 'ship')).toMatchObject({ reused: false, output: 102 });
    // The source run's own view is untouched.
    expect(node(await until(id, () => true), 'fetch').reused).toBe(false);
  });

  serverIt('on another version, 400 names every kept node a re-running node reads that has no output', async () => {
    const created = await call('POST', '/workflows', { name: 'rerun-versions', definition: { name: 'rerun-versions', ...chain } });
    const workflowId = created.json().id as string;
    const started = await call('POST', '/executions', { workflowId, input: { add: 0 } });
    const id = started.json().id as string;
    expect((await until(id, (r) => r.status !== 'RUNNING')).status).toBe('SUCCEEDED');
    // Version 2 puts two new nodes before `ship`; the source run has produced neither.
    const v2 = {
      name: 'rerun-versions',
      nodes: [
        ...chain.nodes.slice(0, 2),
        { id: 'extra_a', type: 'probe', config: { value: 1 } },
        { id: 'extra_b', type: 'transform', config: { expression: 'nodes.extra_a.output.value' } },
        { id: 'ship', type: 'transform', config: { expression: 'nodes.double.output + nodes.extra_b.output' } },
      ],
      edges: [...chain.edges, { from: 'extra_a', to: 'extra_b' }, { from: 'extra_b', to: 'ship' }],
    };
    const put = await call('PUT', `/workflows/${workflowId}`, { definition: v2 });
    expect(put.statusCode, put.body).toBe(200);
    const refused = await call('POST', `/executions/${id}/rerun`, { fromNodes: ['ship'], version: 2 });
    expect(refused.statusCode, refused.body).toBe(400);
    const paths = (refused.json().error.details as { path: string }[]).map((d) => d.path);
    expect(paths).toEqual(['/nodes/extra_a', '/nodes/extra_b']);
    expect(refused.json().error.message).toContain('"extra_a"');

    // Giving the missing outputs (or rerunning from them) makes it start.
    const ok = await call('POST', `/executions/${id}/rerun`, { fromNodes: ['ship'], version: 2, outputs: { extra_a: { value: 3 }, extra_b: 3 } });
    expect(ok.statusCode, ok.body).toBe(202);
    const run = await until(ok.json().id, (r) => r.status !== 'RUNNING');
    expect(run.status).toBe('SUCCEEDED');
    expect(node(run, 'ship').output).toBe(13);
    expect(run.nodes.filter((n) => n.reused).map((n) => n.nodeId).sort()).toEqual(['double', 'extra_a', 'extra_b', 'fetch']);
  });

  serverIt('refuses unknown nodes, outputs for re-running nodes, running sources and other tenants\' runs', async () => {
    const id = await startStored('rerun-refusals', chain, { add: 0 });
    await until(id, (r) => r.status !== 'RUNNING');
    const bad = await call('POST', `/executions/${id}/rerun`, { fromNodes: ['nope', 'double'], outputs: { ship: 1 } });
    expect(bad.statusCode, bad.body).toBe(400);
    expect((bad.json().error.details as { path: string }[]).map((d) => d.path)).toEqual(['/fromNodes/0', '/outputs/ship']);
    expect((await call('POST', `/executions/${id}/rerun`, { fromNodes: [] })).statusCode).toBe(400);
    const other = await createApiKey(h!.database.db, 'globex');
    const foreign = await h!.app.inject({ method: 'POST', url: `/executions/${id}/rerun`, payload: { fromNodes: ['ship'] }, headers: { authorization: `Bearer ${other.key}` } });
    expect(foreign.statusCode).toBe(404);
    const slow = await startStored('rerun-running', { nodes: [{ id: 'wait', type: 'probe', config: { sleepMs: 3000 } }] });
    const running = await call('POST', `/executions/${slow}/rerun`, { fromNodes: ['wait'] });
    expect(running.statusCode, running.body).toBe(409);
  });
});
