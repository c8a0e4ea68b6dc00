import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApi, type TestApi } from '../support/api';
import { seedExecution, seedWorkflow } from '../support/executions';
import { createApiKey } from '../../src/services/api-keys';
import { claimIsValid, claimSigningKey } from '../../src/crypto/claim-signing';
import { TEST_NODE_EVALUATION_MS_PER_MINUTE, TEST_NODE_MAX_WAIT_MS } from '../../src/services/test-node';

/**
 * POST /workflows/test-node without a server: the request's 400s and 404s, in-workflow types
 * evaluated in the API (engine and limits of a run), and what an activity test asks of Temporal
 * (the fake gateway records it; test/server/test-node.server.test.ts runs it on a real worker).
 */

const DEFINITION = {
  name: 'orders',
  nodes: [
    { id: 'fetch', type: 'http', config: { method: 'GET', url: '{{ input.baseUrl & "/orders" }}' }, retry: { maximumAttempts: 5 }, timeout: { startToClose: '20s' } },
    { id: 'sum', type: 'transform', config: { expression: '{ "who": input.who, "total": $sum(nodes.fetch.output.body.total) }' } },
    { id: 'big', type: 'condition', config: { expression: 'nodes.sum.output.total > 100' } },
    { id: 'wait', type: 'approval', config: { timeout: '1h' } },
  ],
  edges: [
    { from: 'fetch', to: 'sum' },
    { from: 'sum', to: 'big' },
    { from: 'big', to: 'wait', when: 'true' },
  ],
};

let api: TestApi;
beforeAll(async () => {
  api = await createTestApi();
});
afterAll(async () => {
  await api?.close();
});

const testNode = (payload: unknown, key?: string) =>
  api.request({ method: 'POST', url: '/workflows/test-node', payload: payload as object, ...(key && { headers: { authorization: `Bearer ${key}` } }) });

const FETCHED = { fetch: { output: { status: 200, body: [{ total: 40 }, { total: 90 }] } } };

describe('POST /workflows/test-node: requests it refuses', () => {
  it('400 with a path for both or neither of definition and workflowId, and for version without workflowId', async () => {
    for (const body of [{ nodeId: 'sum' }, { nodeId: 'sum', definition: DEFINITION, workflowId: 'wf_x' }]) {
      const res = await testNode(body);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.details).toEqual([{ path: '/body', message: expect.stringContaining('either definition or workflowId') }]);
    }
    const res = await testNode({ nodeId: 'sum', definition: DEFINITION, version: 2 });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.details[0].path).toBe('/body/version');
  });

  it('400 naming an unknown node, a given output of no node, and a node type that cannot run alone', async () => {
    const unknown = await testNode({ definition: DEFINITION, nodeId: 'nope' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.details).toEqual([{ path: '/body/nodeId', message: 'no top-level node "nope"' }]);

    const stray = await testNode({ definition: DEFINITION, nodeId: 'sum', nodes: { ghost: { output: 1 }, sum: { output: 2 } } });
    expect(stray.statusCode).toBe(400);
    expect(stray.json().error.details.map((d: { path: string }) => d.path)).toEqual(['/body/nodes/ghost', '/body/nodes/sum']);

    const approval = await testNode({ definition: DEFINITION, nodeId: 'wait' });
    expect(approval.statusCode).toBe(400);
    expect(approval.json().error.message).toMatch(/"approval" node cannot be tested alone.*mocks/);
  });

  it('400 for an input or given outputs larger than a run input may be, and for an invalid definition (every problem with its path)', async () => {
    const big = 'x'.repeat(300 * 1024);
    const input = await testNode({ definition: DEFINITION, nodeId: 'sum', input: { big } });
    expect(input.statusCode).toBe(400);
    expect(input.json().error.details).toEqual([{ path: '/body/input', message: expect.stringMatching(/at most 262144 bytes/) }]);
    const outputs = await testNode({ definition: DEFINITION, nodeId: 'sum', nodes: { fetch: { output: big } } });
    expect(outputs.statusCode).toBe(400);
    expect(outputs.json().error.details[0].path).toBe('/body/nodes');

    const invalid = await testNode({ definition: { name: 'bad', nodes: [{ id: 't', type: 'transform', config: {} }, { id: 't', type: 'noop' }] }, nodeId: 't' });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error.details.length).toBeGreaterThanOrEqual(2);
    for (const d of invalid.json().error.details) expect(d.path).toMatch(/^\/definition\/nodes/);
  });

  it("404 for a workflow that is not the caller's (another tenant's or none), and for a version it does not have", async () => {
    const theirs = await seedWorkflow(api.database.db, api.globexTenantId, { versions: [DEFINITION] });
    const res = await testNode({ workflowId: theirs, nodeId: 'sum' });
    expect(res.statusCode, res.body).toBe(404);
    expect((await testNode({ workflowId: theirs, nodeId: 'sum' }, api.otherKey)).statusCode).toBe(200);
    expect((await testNode({ workflowId: 'wf_missing', nodeId: 'sum' })).statusCode).toBe(404);
    expect((await testNode({ workflowId: theirs, version: 7, nodeId: 'sum' }, api.otherKey)).statusCode).toBe(404);
  });
});

describe('POST /workflows/test-node: in-workflow types, evaluated in the API', () => {
  it('a transform computes its output from the given input and upstream outputs', async () => {
    const res = await testNode({ definition: DEFINITION, nodeId: 'sum', input: { who: 'ada' }, nodes: FETCHED });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ status: 'SUCCEEDED', output: { who: 'ada', total: 130 }, error: null, durationMs: expect.any(Number), attempts: 1 });
    expect(api.temporal.testRuns).toHaveLength(0);
  });

  it('a condition gives { result }, and fails as in a run when its value is not boolean', async () => {
    const yes = await testNode({ definition: DEFINITION, nodeId: 'big', nodes: { sum: { output: { total: 130 } } } });
    expect(yes.json()).toMatchObject({ status: 'SUCCEEDED', output: { result: true } });
    // Not given: the node is PENDING with a null output, as in a run that has not reached it.
    const missing = await testNode({ definition: DEFINITION, nodeId: 'big' });
    expect(missing.statusCode).toBe(200);
    expect(missing.json()).toMatchObject({ status: 'FAILED', output: null, error: { type: 'ExpressionTypeError', message: expect.stringContaining('must evaluate to true or false') } });
  });

  it('a stored workflow is tested at its latest version, or at the version asked for', async () => {
    const workflowId = await seedWorkflow(api.database.db, api.acmeTenantId, {
      versions: [
        { name: 'v', nodes: [{ id: 't', type: 'transform', config: { expression: '"one"' } }] },
        { name: 'v', nodes: [{ id: 't', type: 'transform', config: { expression: '"two"' } }] },
      ],
    });
    expect((await testNode({ workflowId, nodeId: 't' })).json().output).toBe('two');
    expect((await testNode({ workflowId, version: 1, nodeId: 't' })).json().output).toBe('one');
  });

  it('an expression past the engine limits is a FAILED test with the limit named, not a 500 or a hang', async () => {
    const definition = (expression: string) => ({ name: 'hostile', nodes: [{ id: 't', type: 'transform', config: { expression } }] });
    for (const [expression, limit] of [
      ['($f := function(){ $f() }; $f())', 'steps'],
      ['($f := function($n){ $n = 0 ? 0 : 1 + $f($n-1) }; $f(5000))', 'depth'],
      ['[1..10000000]', 'arrayLength'],
    ] as const) {
      const res = await testNode({ definition: definition(expression), nodeId: 't' });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ status: 'FAILED', output: null, error: { type: 'ExpressionLimitExceeded', message: expect.stringContaining(`"${limit}"`), details: { limit } } });
      expect(res.json().durationMs).toBeLessThan(10_000);
    }
    // An output larger than an in-workflow node may produce fails as in a run.
    const huge = await testNode({ definition: definition('$pad("", 300000, "x")'), nodeId: 't' });
    expect(huge.json()).toMatchObject({ status: 'FAILED', error: { type: 'OutputLimitExceeded' } });
  });
});

describe('POST /workflows/test-node: activity types, once on a worker', () => {
  it("asks Temporal for one run of the node alone: one attempt, its timeout, the given outputs reused, the caller's signed tenant", async () => {
    api.temporal.testRunResult = (input) => ({ status: 'SUCCEEDED', outputs: { fetch: { status: 200, body: input.input } } });
    const res = await testNode({ definition: DEFINITION, nodeId: 'fetch', input: { baseUrl: 'http://127.0.0.1:1' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ status: 'SUCCEEDED', output: { status: 200, body: { baseUrl: 'http://127.0.0.1:1' } }, error: null, attempts: 1 });
    const asked = api.temporal.testRuns.at(-1)!;
    expect(asked.workflowId).toMatch(/^test-node-/);
    expect(asked.input.tenantId).toBe(api.acmeTenantId);
    expect(asked.input.workflowId).toBeUndefined(); // no mirror row: the test leaves no run behind
    expect(asked.input.definition!.nodes).toEqual([{ ...DEFINITION.nodes[0], retry: { maximumAttempts: 1 } }]);
    expect(asked.waitMs).toBe(20_000 + 30_000);
    expect(claimIsValid(await claimSigningKey(api.database.db), asked.workflowId, asked.input)).toBe(true);

    await testNode({ definition: DEFINITION, nodeId: 'fetch', nodes: { sum: { output: { total: 1 } } } });
    const withUpstream = api.temporal.testRuns.at(-1)!.input;
    expect(withUpstream.definition!.nodes.map((n) => [n.id, n.type])).toEqual([['sum', 'noop'], ['fetch', 'http']]);
    expect(withUpstream.reuse).toEqual({ sum: { total: 1 } });
    expect(TEST_NODE_MAX_WAIT_MS).toBe(300_000);
    expect(await api.database.db.execution.count()).toBe(0);
  });

  it("a failed node is a 200 FAILED with the node's own error; no result in time is a FAILED TestNodeTimedOut; Temporal down is a 503", async () => {
    api.temporal.testRunResult = () => ({ status: 'FAILED', outputs: {}, error: { type: 'HttpServerError', message: 'node "fetch" failed: HTTP 500 from GET http://x', nodeId: 'fetch' } });
    const failed = await testNode({ definition: DEFINITION, nodeId: 'fetch' });
    expect(failed.json()).toMatchObject({ status: 'FAILED', output: null, error: { type: 'HttpServerError', message: 'HTTP 500 from GET http://x' }, attempts: 1 });
    api.temporal.testRunResult = () => undefined;
    expect((await testNode({ definition: DEFINITION, nodeId: 'fetch' })).json()).toMatchObject({ status: 'FAILED', error: { type: 'TestNodeTimedOut' } });
    api.temporal.down = true;
    try {
      const down = await testNode({ definition: DEFINITION, nodeId: 'fetch' });
      expect(down.statusCode).toBe(503);
      expect(down.json().error.code).toBe('TEMPORAL_UNAVAILABLE');
    } finally {
      api.temporal.down = false;
      api.temporal.testRunResult = undefined;
    }
  });
});

describe("POST /workflows/test-node counts against the tenant's runs in progress", () => {
  let capped: TestApi;
  beforeAll(async () => {
    capped = await createTestApi({ maxRunningPerTenant: 1 });
  });
  afterAll(async () => {
    await capped?.close();
  });

  it('429 TOO_MANY_RUNS for an activity test at the cap; in-workflow types still evaluate', async () => {
    const request = (nodeId: string) => capped.request({ method: 'POST', url: '/workflows/test-node', payload: { definition: DEFINITION, nodeId, ...(nodeId === 'sum' && { nodes: FETCHED }) } });
    expect((await request('fetch')).statusCode).toBe(200);
    const workflowId = await seedWorkflow(capped.database.db, capped.acmeTenantId, { versions: [DEFINITION] });
    await seedExecution(capped.database.db, { tenantId: capped.acmeTenantId, workflowId });
    const refused = await request('fetch');
    expect(refused.statusCode, refused.body).toBe(429);
    expect(refused.json().error.code).toBe('TOO_MANY_RUNS');
    expect((await request('sum')).json().status).toBe('SUCCEEDED');
  });
});

describe('POST /workflows/test-node bounds the API time of one tenant', () => {
  it('429 TEST_NODE_LIMIT once a tenant has used its evaluation time of the minute; another tenant is not held up', async () => {
    // Each evaluation runs to the step limit (the longest one may take); a tenant of its own pays
    // for them, so its minute starts at zero (globex's earlier tests used some of its own).
    const { key: spinnerKey } = await createApiKey(api.database.db, 'spinner');
    const hostile = { definition: { name: 'spin', nodes: [{ id: 't', type: 'transform', config: { expression: '($f := function(){ $f() }; $f())' } }] }, nodeId: 't' };
    let used = 0;
    let refused: Awaited<ReturnType<typeof testNode>>;
    for (let i = 0; ; i++) {
      const res = await testNode(hostile, spinnerKey);
      if (res.statusCode === 429) {
        refused = res;
        break;
      }
      expect(res.json().status).toBe('FAILED');
      used += res.json().durationMs as number;
      expect(i, 'never refused').toBeLessThan(400);
    }
    expect(refused.json().error.code).toBe('TEST_NODE_LIMIT');
    expect(used).toBeGreaterThanOrEqual(TEST_NODE_EVALUATION_MS_PER_MINUTE);
    expect(used).toBeLessThan(TEST_NODE_EVALUATION_MS_PER_MINUTE + 5_000);
    expect((await testNode({ definition: DEFINITION, nodeId: 'sum', nodes: FETCHED })).json().status).toBe('SUCCEEDED');
  }, 120_000);
});
