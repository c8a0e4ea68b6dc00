import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { BUILTIN_NODE_TYPES, catalogOf } from '../../src/domain/node-types';
import { validateDefinition, type ValidationProblem } from '../../src/domain/validate';

const catalog = catalogOf([
  ...BUILTIN_NODE_TYPES,
  {
    type: 'http',
    execution: 'activity',
    configSchema: Type.Object(
      {
        method: Type.Optional(Type.String()),
        url: Type.String({ minLength: 1 }),
        body: Type.Optional(Type.Unknown()),
        timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
      },
      { additionalProperties: false },
    ),
  },
]);

/** DESIGN.md §1's example, with a real url for `bulk`. */
function example(): Record<string, unknown> & { nodes: Record<string, unknown>[]; edges: Record<string, unknown>[] } {
  return {
    name: 'order-sync',
    description: 'optional',
    defaults: { retry: { maximumAttempts: 3 }, timeout: { startToClose: '30s' } },
    nodes: [
      {
        id: 'fetch',
        type: 'http',
        config: { method: 'GET', url: "{{ input.baseUrl & '/orders' }}" },
        retry: {
          maximumAttempts: 5,
          initialInterval: '1s',
          backoffCoefficient: 2,
          maximumInterval: '30s',
          nonRetryableErrorTypes: ['HttpClientError'],
        },
        timeout: { startToClose: '10s', scheduleToClose: '2m', heartbeat: '5s' },
        onError: 'fail',
      },
      { id: 'big', type: 'condition', config: { expression: '$count(nodes.fetch.output.body) > 10' } },
      { id: 'bulk', type: 'http', config: { method: 'POST', url: 'https://example.com/bulk', body: '{{ nodes.fetch.output.body }}' } },
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
}

const errorsOf = (definition: unknown, options = {}): ValidationProblem[] =>
  validateDefinition(definition, { catalog, ...options }).errors;

/** A minimal definition around the given nodes and edges. */
const def = (nodes: unknown[], edges: unknown[] = []) => ({ name: 'test', nodes, edges });
const noop = (id: string) => ({ id, type: 'noop' });

/** Asserts exactly one problem at `path` and that its message is (or matches) `message`. */
function expectOnly(definition: unknown, path: string, message: RegExp | string) {
  const errors = errorsOf(definition);
  expect(errors).toEqual([{ path, message: typeof message === 'string' ? message : expect.stringMatching(message) }]);
}

describe('validateDefinition', () => {
  it('accepts DESIGN.md example definition', () => {
    expect(validateDefinition(example(), { catalog })).toEqual({ valid: true, errors: [] });
  });

  it('rejects an unknown node type and names the known ones', () => {
    const d = example();
    d.nodes[2]!.type = 'smtp';
    expectOnly(d, '/nodes/2/type', /unknown node type "smtp" \(known: .*condition.*http.*transform/);
    // Without the catalog, `http` itself is unknown.
    expect(validateDefinition(example()).errors.map((e) => e.path)).toEqual(['/nodes/0/type', '/nodes/2/type']);
  });

  it('accepts unknown types with allowUnknownTypes, still checking their templates', () => {
    const d = def([{ id: 'a', type: 'smtp', config: { to: '{{ input.to }}', anything: 1 } }]);
    expect(errorsOf(d, { allowUnknownTypes: true })).toEqual([]);
    const bad = def([{ id: 'a', type: 'smtp', config: { to: '{{ input.to + }}' } }]);
    expect(errorsOf(bad, { allowUnknownTypes: true })).toEqual([
      { path: '/nodes/0/config/to', message: expect.stringMatching(/in expression "input\.to \+"/) },
    ]);
  });

  it('rejects config that fails the type schema: missing field', () => {
    const errors = errorsOf(def([{ id: 't', type: 'transform', config: {} }]));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toEqual({ path: '/nodes/0/config/expression', message: 'expected required property' });
    expect(errors.every((e) => e.path === '/nodes/0/config/expression')).toBe(true);
  });

  it('rejects config that fails the type schema: unknown property', () => {
    expectOnly(def([{ id: 't', type: 'transform', config: { expression: 'input', extra: 1 } }]), '/nodes/0/config/extra', 'unknown property "extra"');
    expectOnly(def([{ id: 'h', type: 'http', config: { url: 'https://x.test', verb: 'GET' } }]), '/nodes/0/config/verb', 'unknown property "verb"');
  });

  it('rejects duplicate ids, pointing at the later node', () => {
    expectOnly(def([noop('a'), noop('b'), noop('a')]), '/nodes/2/id', 'duplicate node id "a" (also /nodes/0)');
  });

  it('rejects edges from and to unknown nodes', () => {
    expectOnly(def([noop('a')], [{ from: 'a', to: 'ghost' }]), '/edges/0/to', 'edge to unknown node "ghost"');
    expectOnly(def([noop('a')], [{ from: 'ghost', to: 'a' }]), '/edges/0/from', 'edge from unknown node "ghost"');
  });

  it('rejects a self-loop', () => {
    expect(errorsOf(def([noop('a')], [{ from: 'a', to: 'a' }]))).toEqual([
      { path: '/edges/0', message: 'node "a" cannot depend on itself' },
      { path: '/edges', message: 'cycle: a -> a' },
    ]);
  });

  it('rejects a 3-cycle and names its nodes', () => {
    const d = def([noop('root'), noop('a'), noop('b'), noop('c')], [
      { from: 'root', to: 'a' },
      { from: 'a', to: 'b' },
      { from: 'b', to: 'c' },
      { from: 'c', to: 'a' },
    ]);
    expectOnly(d, '/edges', 'cycle: a -> b -> c -> a');
  });

  it('rejects when on an edge out of a non-branch node', () => {
    expectOnly(def([noop('a'), noop('b')], [{ from: 'a', to: 'b', when: 'true' }]), '/edges/0/when', /only allowed on edges out of condition or switch/);
  });

  it('rejects condition and switch edges without when', () => {
    const d = example();
    delete d.edges[1]!.when;
    expectOnly(d, '/edges/1', 'edges out of branch node "big" need "when": "true" or "false"');
    const s = def([{ id: 's', type: 'switch', config: { expression: 'input.kind' } }, noop('b')], [{ from: 's', to: 'b' }]);
    expectOnly(s, '/edges/0', 'edges out of branch node "s" need "when": a case or "default"');
  });

  it('rejects a condition label other than true/false but accepts any switch label', () => {
    const d = example();
    d.edges[1]!.when = 'maybe';
    expectOnly(d, '/edges/1/when', '"when" must be "true" or "false"');
    const s = def(
      [{ id: 's', type: 'switch', config: { expression: 'input.kind' } }, noop('b'), noop('c')],
      [{ from: 's', to: 'b', when: 'refund' }, { from: 's', to: 'c', when: 'default' }],
    );
    expect(errorsOf(s)).toEqual([]);
  });

  it('accepts an error edge without when, even out of a branch node, but not with one', () => {
    const d = example();
    d.nodes.push(noop('handler'));
    d.edges.push({ from: 'big', to: 'handler', on: 'error' });
    expect(errorsOf(d)).toEqual([]);
    d.edges[5]!.when = 'true';
    expectOnly(d, '/edges/5/when', 'an error edge cannot carry a "when" label');
  });

  it("rejects an unparsable expression in a condition's expression", () => {
    const d = example();
    (d.nodes[1]!.config as Record<string, unknown>).expression = '$count(nodes.fetch.output.body > 10';
    expectOnly(d, '/nodes/1/config/expression', /position \d+ in expression "\$count\(nodes/);
  });

  it('rejects an unparsable expression in a template inside an http url', () => {
    const d = example();
    (d.nodes[0]!.config as Record<string, unknown>).url = "{{ input.baseUrl & }}/orders";
    expectOnly(d, '/nodes/0/config/url', /in expression "input\.baseUrl &"/);
  });

  it.each([
    ['node timeout', (d: ReturnType<typeof example>) => ((d.nodes[0]!.timeout as Record<string, unknown>).startToClose = 'ten seconds'), '/nodes/0/timeout/startToClose', 'ten seconds'],
    ['node retry interval', (d: ReturnType<typeof example>) => ((d.nodes[0]!.retry as Record<string, unknown>).initialInterval = '1 sec'), '/nodes/0/retry/initialInterval', '1 sec'],
    ['defaults timeout', (d: ReturnType<typeof example>) => ((d.defaults as { timeout: Record<string, unknown> }).timeout.startToClose = '30x'), '/defaults/timeout/startToClose', '30x'],
    ['delay duration', (d: ReturnType<typeof example>) => d.nodes.push({ id: 'wait', type: 'delay', config: { duration: 'forever' } }), '/nodes/5/config/duration', 'forever'],
  ])('rejects a %s that does not parse', (_what, mutate, path, value) => {
    const d = example();
    mutate(d);
    expectOnly(d, path, `"${value}" is not a duration of at most 366d (use e.g. "500ms", "10s", "5m", "1h" or milliseconds)`);
  });

  it('lists a negative timeout once, although both the schema and the duration check reject it', () => {
    expectOnly(def([{ id: 'a', type: 'http', config: { url: 'https://example.com' }, timeout: { heartbeat: -5 } }]), '/nodes/0/timeout/heartbeat', /^-5 is not a duration/);
  });

  it('rejects more than 1,000 nodes', () => {
    const nodes = Array.from({ length: 1_001 }, (_, i) => noop(`n${i}`));
    expectOnly(def(nodes), '/nodes', 'a workflow may have at most 1000 nodes (it has 1001)');
    expect(errorsOf(def(nodes.slice(0, 1_000)))).toEqual([]);
  });

  it('rejects a node id that does not match the pattern', () => {
    for (const id of ['1abc', '_a', 'a b', 'a.b', 'x'.repeat(65), '']) {
      expectOnly(def([{ id, type: 'noop' }]), '/nodes/0/id', 'node id must match ^[A-Za-z][A-Za-z0-9_-]{0,63}$');
    }
    expect(errorsOf(def([noop('A-b_9'), noop('x'.repeat(64))]))).toEqual([]);
  });

  it('rejects unknown top-level properties and a missing name', () => {
    expectOnly({ ...def([noop('a')]), owner: 'me' }, '/owner', 'unknown property "owner"');
    const errors = errorsOf({ nodes: [noop('a')] });
    expect(errors[0]).toEqual({ path: '/name', message: 'expected required property' });
    expect(errors.every((e) => e.path === '/name')).toBe(true);
  });

  it('rejects a non-object definition and an empty node list without crashing', () => {
    expect(errorsOf(null)).toEqual([{ path: '', message: 'expected object' }]);
    expect(errorsOf(def([]))).toEqual([{ path: '/nodes', message: expect.stringMatching(/greater or equal to 1/) }]);
  });

  it('lists every problem, not just the first', () => {
    const d = def(
      [noop('a'), noop('a'), { id: 'c', type: 'nope' }, { id: 'd', type: 'transform', config: { expression: '1 +' } }],
      [{ from: 'a', to: 'zzz' }, { from: 'a', to: 'd', when: 'true' }],
    );
    const paths = errorsOf(d).map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining(['/nodes/1/id', '/nodes/2/type', '/nodes/3/config/expression', '/edges/0/to', '/edges/1/when']),
    );
    expect(paths.length).toBeGreaterThanOrEqual(5);
  });

  it('accepts a whole template where the schema wants another type', () => {
    const d = def([
      { id: 'wait', type: 'delay', config: { duration: '{{ input.wait }}' } },
      { id: 'child', type: 'subworkflow', config: { workflowId: 'w1', version: '{{ input.version }}' } },
      { id: 'call', type: 'http', config: { url: 'https://x.test', timeoutMs: '{{ input.timeoutMs }}' } },
      { id: 'ask', type: 'approval', config: { timeout: '{{ input.approvalTimeout }}' } },
    ]);
    expect(errorsOf(d)).toEqual([]);
    // Interpolated text is not a whole template: the integer field still rejects it.
    const bad = def([{ id: 'call', type: 'http', config: { url: 'https://x.test', timeoutMs: 'x{{ input.t }}' } }]);
    expectOnly(bad, '/nodes/0/config/timeoutMs', /integer/);
  });

  it('accepts templates interpolated into duration and until fields (they resolve before use)', () => {
    const d = def([
      { id: 'w1', type: 'delay', config: { duration: '{{ input.minutes }}m' } },
      { id: 'w2', type: 'delay', config: { until: "{{ input.day }}T09:00:00Z" } },
    ]);
    expect(errorsOf(d)).toEqual([]);
  });

  it('requires delay until to be a date-time', () => {
    expectOnly(def([{ id: 'w', type: 'delay', config: { until: 'tomorrow' } }]), '/nodes/0/config/until', /^"tomorrow" is not an ISO date-time/);
    // Date.parse would take these; a definition should not depend on the worker's locale or zone.
    for (const until of ['5', 'Jan 1 2030', '2030-01-01T09:00:00']) {
      expectOnly(def([{ id: 'w', type: 'delay', config: { until } }]), '/nodes/0/config/until', /is not an ISO date-time with a zone/);
    }
    expect(errorsOf(def([{ id: 'w', type: 'delay', config: { until: '2030-01-01T00:00:00Z' } }]))).toEqual([]);
    expect(errorsOf(def([{ id: 'w', type: 'delay', config: { until: '{{ input.at }}' } }]))).toEqual([]);
  });

  it('reports an edge without ends once, not as a self-loop or a duplicate of another', () => {
    const errors = errorsOf({ name: 'x', nodes: [{ id: 'a', type: 'noop' }], edges: [{}, {}] });
    expect(errors.map((e) => e.message).join('\n')).not.toMatch(/depend on itself|duplicate edge/);
    expect(errors.filter((e) => e.path.startsWith('/edges/0')).length).toBeGreaterThan(0);
  });

  it('names the allowed values of an enumerated field', () => {
    expectOnly(def([{ id: 'a', type: 'noop', trigger: 'sometimes' }]), '/nodes/0/trigger', 'must be one of "all_success", "none_failed", "all_done", "one_success", "one_failed", "all_failed", "none_skipped", "always"');
  });

  it('rejects approval timeouts that do not parse', () => {
    expectOnly(def([{ id: 'ok', type: 'approval', config: { timeout: 'a week' } }]), '/nodes/0/config/timeout', /^"a week" is not a duration/);
  });

  it('validates a 1,000-node chain quickly and without stack overflow', () => {
    const ids = Array.from({ length: 1_000 }, (_, i) => `n${i}`);
    const edges = ids.slice(1).map((id, i) => ({ from: ids[i]!, to: id }));
    const started = performance.now();
    expect(errorsOf(def(ids.map(noop), edges))).toEqual([]);
    expect(performance.now() - started).toBeLessThan(2_000);
    // Closing the chain into a ring: the cycle names all 1,000 nodes.
    const ring = errorsOf(def(ids.map(noop), [...edges, { from: 'n999', to: 'n0' }]));
    expect(ring).toHaveLength(1);
    expect(ring[0]!.message.split(' -> ')).toHaveLength(1_001);
  });
});
