import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createNodeRegistry } from '../../src/activities';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { DagPlanner } from '../../src/domain/planner';
import { validateDefinition, type ValidationResult } from '../../src/domain/validate';
import { mutate, mutationArb } from '../support/json-mutate';

/*
 * Fuzzing validateDefinition with the deployment's catalog (built-ins plus http and postgres):
 * arbitrary JSON, near-valid definitions, and near-valid definitions with random mutations.
 * It never throws; it always answers { valid, errors } with valid exactly when errors is empty;
 * every error has a JSON-pointer path ('' or starting with '/') and a non-empty message; and a
 * definition it accepts really is runnable: the planner builds it and, driven with every node
 * succeeding, settles every node (no cycle, no dangling edge, no unknown id).
 */
const catalog = createNodeRegistry().catalog();
const RUNS = Number(process.env.FUZZ_RUNS ?? 8_000);

function check(definition: unknown, allowUnknownTypes = false): ValidationResult {
  let result: ValidationResult;
  try {
    result = validateDefinition(definition, { catalog, allowUnknownTypes });
  } catch (err) {
    throw new Error(`validateDefinition threw ${String(err)} for ${JSON.stringify(definition)?.slice(0, 2_000)}`);
  }
  expect(Object.keys(result).sort()).toEqual(['errors', 'valid']);
  expect(typeof result.valid).toBe('boolean');
  expect(Array.isArray(result.errors)).toBe(true);
  expect(result.valid).toBe(result.errors.length === 0);
  for (const error of result.errors) {
    expect(typeof error.path, JSON.stringify(error)).toBe('string');
    expect(error.path === '' || error.path.startsWith('/'), JSON.stringify(error)).toBe(true);
    expect(typeof error.message, JSON.stringify(error)).toBe('string');
    expect(error.message.trim().length, JSON.stringify(error)).toBeGreaterThan(0);
  }
  if (result.valid) expectRunnable(definition as WorkflowDefinition);
  return result;
}

/** Drives the planner with every node succeeding (branch nodes take their first label): all nodes settle. */
function expectRunnable(definition: WorkflowDefinition): void {
  const planner = new DagPlanner(definition);
  const queue = [...planner.start().ready];
  let steps = 0;
  while (queue.length > 0) {
    const id = queue.shift()!;
    expect(++steps).toBeLessThanOrEqual(definition.nodes.length);
    planner.markStarted(id);
    const node = definition.nodes.find((n) => n.id === id)!;
    const branch = node.type === 'condition' ? 'true' : node.type === 'switch' ? planner.branchLabel(id, 'a') : undefined;
    queue.push(...planner.settle(id, { status: 'SUCCEEDED', branch }).ready);
  }
  expect(planner.isComplete(), JSON.stringify(planner.statuses())).toBe(true);
}

const configs: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  transform: fc.constantFrom({ expression: '1 + 1' }, { expression: '$count(input.items)' }, { expression: 'nodes.n0.output' }),
  condition: fc.constantFrom({ expression: 'input.x > 1' }, { expression: 'true' }),
  switch: fc.constantFrom({ expression: 'input.kind' }),
  noop: fc.constant({}),
  fail: fc.constantFrom({}, { message: 'boom', type: 'Boom' }),
  delay: fc.constantFrom({ duration: '1s' }, { duration: 250 }, { until: '2030-01-01T00:00:00Z' }, { duration: '{{ input.wait }}' }),
  approval: fc.constantFrom({}, { timeout: '1h', onTimeout: 'reject' }),
  subworkflow: fc.constantFrom({ workflowId: 'wf_child' }, { workflowId: 'wf_child', version: 2, input: { a: 1 } }),
  http: fc.constantFrom({ url: 'https://example.com/x' }, { method: 'POST', url: '{{ input.url }}', body: '{{ nodes.n0.output }}' }),
  postgres: fc.constantFrom({ connection: 'main', sql: 'select 1' }),
};
const nodeArb = fc.record({
  type: fc.constantFrom(...Object.keys(configs)),
  trigger: fc.option(fc.constantFrom('all_success', 'none_failed', 'all_done', 'one_success', 'one_failed', 'all_failed', 'none_skipped', 'always'), { nil: undefined }),
  onError: fc.option(fc.constantFrom('fail', 'continue'), { nil: undefined }),
  retry: fc.option(fc.record({ maximumAttempts: fc.integer({ min: 1, max: 9 }), initialInterval: fc.constantFrom('1s', 500) }), { nil: undefined }),
  timeout: fc.option(fc.record({ startToClose: fc.constantFrom('10s', '2m', 1_000) }), { nil: undefined }),
});

/** A valid definition: forward edges only (a DAG), `when` labels exactly where branch nodes need them. */
const validArb: fc.Arbitrary<WorkflowDefinition> = fc
  .integer({ min: 1, max: 12 })
  .chain((n) =>
    fc.record({
      nodes: fc.array(nodeArb, { minLength: n, maxLength: n }),
      links: fc.uniqueArray(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 2 * n, selector: ([a, b]) => `${a}-${b}` }),
      configSeeds: fc.array(fc.nat(), { minLength: n, maxLength: n }),
      withDefaults: fc.boolean(),
    }),
  )
  .chain(({ nodes, links, withDefaults }) =>
    fc.tuple(...nodes.map((n) => configs[n.type]!)).map((cfgs) => {
      const defNodes = nodes.map((n, i) => {
        // A node cannot read itself (nodes.X must be upstream): n0 gets a config without the reference.
        const config = i === 0 && JSON.stringify(cfgs[i]).includes('nodes.n0') ? {} : cfgs[i];
        const node: Record<string, unknown> = { id: `n${i}`, type: i === 0 && config !== cfgs[i] ? 'noop' : n.type, config };
        // retry and timeout mean something for activity nodes only (a subworkflow takes timeout.startToClose).
        const activity = node.type === 'http' || node.type === 'postgres';
        for (const key of ['trigger', 'onError', 'retry', 'timeout'] as const) {
          if (n[key] === undefined || (key === 'retry' && !activity) || (key === 'timeout' && !activity && node.type !== 'subworkflow')) continue;
          node[key] = n[key];
        }
        return node;
      });
      // Readers of nodes.n0 get an edge from n0, so the reference is upstream.
      const readers = defNodes.flatMap((node, i) => (i > 0 && JSON.stringify(node.config).includes('nodes.n0') ? [[0, i] as [number, number]] : []));
      const edges = [...links, ...readers.filter(([a, b]) => !links.some(([x, y]) => x === a && y === b))]
        .filter(([a, b]) => a < b)
        .map(([a, b]) => {
          const type = defNodes[a]!.type;
          return { from: `n${a}`, to: `n${b}`, ...(type === 'condition' ? { when: b % 2 ? 'true' : 'false' } : type === 'switch' ? { when: `case${b}` } : {}) };
        });
      return {
        name: 'fuzz',
        ...(withDefaults ? { defaults: { retry: { maximumAttempts: 3 }, timeout: { startToClose: '30s' } } } : {}),
        nodes: defNodes,
        edges,
      } as unknown as WorkflowDefinition;
    }),
  );

describe('validateDefinition under fuzzing', () => {
  it('answers every arbitrary JSON value with { valid, errors } and well-formed errors', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.boolean(), (value, allowUnknown) => void check(value, allowUnknown)),
      { numRuns: RUNS },
    );
    // Shapes close to a definition: objects whose nodes/edges are arbitrary.
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 4 }), (nodes, edges) => void check({ name: 'x', nodes, edges })),
      { numRuns: RUNS },
    );
  });

  it('accepts the near-valid definitions it generates, and they run', () => {
    fc.assert(
      fc.property(validArb, (definition) => {
        const result = check(definition);
        expect(result.errors).toEqual([]);
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });

  it('answers mutated definitions with well-formed errors; whatever it accepts runs', () => {
    fc.assert(
      fc.property(validArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.boolean(), (definition, mutations, allowUnknown) => {
        check(mutate(definition, mutations), allowUnknown);
      }),
      { numRuns: RUNS },
    );
  });
});
