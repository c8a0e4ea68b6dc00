import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_PENDING_PER_WORKFLOW,
  itemRanges,
  mapOutput,
  planMap,
  reusableItems,
  sinkIds,
  sinkResult,
  splitBySize,
  toleratedCount,
  type ItemOutcome,
} from '../../src/domain/iteration';
import { validateDefinition } from '../../src/domain/validate';

const body = (nodes: unknown[], edges: unknown[] = []) => ({ nodes, edges });
const mapNode = (id: string, config: Record<string, unknown>) => ({ id, type: 'map', config });
const def = (nodes: unknown[], edges: unknown[] = []) => ({ name: 'iter', nodes, edges });
const errors = (d: unknown) => validateDefinition(d).errors;

describe('map and loop validation', () => {
  it('accepts DESIGN.md §1 "Iteration" examples', () => {
    const d = def([
      { id: 'list', type: 'noop' },
      mapNode('each_order', {
        items: 'nodes.list.output.body.orders',
        maxConcurrency: 10,
        toleratedFailures: { percent: 5 },
        body: body([{ id: 'charge', type: 'transform', config: { expression: 'item' } }]),
        output: 'nodes.charge.output',
      }),
      {
        id: 'poll',
        type: 'loop',
        config: {
          body: body([{ id: 'check', type: 'transform', config: { expression: '{"status": "done"}' } }]),
          until: "nodes.check.output.status = 'done'",
          maxIterations: 100,
          interval: '30s',
        },
      },
    ], [{ from: 'list', to: 'each_order' }]);
    expect(errors(d)).toEqual([]);
  });

  it('validates bodies with the definition rules, with paths into the body', () => {
    const d = def([
      mapNode('m', {
        items: '[1,2]',
        body: body(
          [
            { id: 'a', type: 'transform', config: { expression: '(' } },
            { id: 'b', type: 'nosuch' },
          ],
          [{ from: 'a', to: 'ghost' }, { from: 'a', to: 'b' }, { from: 'b', to: 'a' }],
        ),
      }),
    ]);
    const paths = errors(d).map((e) => e.path);
    expect(paths).toContain('/nodes/0/config/body/nodes/0/config/expression');
    expect(paths).toContain('/nodes/0/config/body/nodes/1/type');
    expect(paths).toContain('/nodes/0/config/body/edges/0/to');
    expect(errors(d).some((e) => e.path === '/nodes/0/config/body/edges' && e.message.startsWith('cycle'))).toBe(true);
  });

  it('keeps node ids unique across the whole definition, bodies included', () => {
    const d = def([
      { id: 'a', type: 'noop' },
      mapNode('m', { items: '[1]', body: body([{ id: 'a', type: 'noop' }, { id: 'm', type: 'noop' }]) }),
    ]);
    const found = errors(d).filter((e) => e.message.startsWith('duplicate node id'));
    expect(found.map((e) => e.path).sort()).toEqual(['/nodes/1/config/body/nodes/0/id', '/nodes/1/config/body/nodes/1/id']);
  });

  it('counts body nodes against the 1,000-node cap', () => {
    const inner = Array.from({ length: 600 }, (_, i) => ({ id: `b${i}`, type: 'noop' }));
    const top = Array.from({ length: 500 }, (_, i) => ({ id: `t${i}`, type: 'noop' }));
    const d = def([...top, mapNode('m', { items: '[1]', body: body(inner) })]);
    expect(errors(d).some((e) => e.path === '/nodes' && e.message.includes('bodies included'))).toBe(true);
  });

  it('bounds maxConcurrency, requires maxIterations, allows maxItems of a million', () => {
    const b = body([{ id: 'x', type: 'noop' }]);
    expect(errors(def([mapNode('m', { items: '[]', body: b, maxConcurrency: 1_001 })]))[0]?.path).toBe('/nodes/0/config/maxConcurrency');
    expect(errors(def([mapNode('m', { items: '[]', body: b, maxItems: 1_000_000 })]))).toEqual([]);
    const loop = { id: 'l', type: 'loop', config: { body: b, until: 'true' } };
    expect(errors(def([loop])).map((e) => e.path)).toContain('/nodes/0/config/maxIterations');
    const badInterval = { id: 'l', type: 'loop', config: { body: b, until: 'true', maxIterations: 3, interval: 'soon' } };
    expect(errors(def([badInterval]))[0]?.path).toBe('/nodes/0/config/interval');
  });

  it('refuses approval nodes inside bodies and nesting past the depth limit', () => {
    const d = def([mapNode('m', { items: '[1]', body: body([{ id: 'ok', type: 'approval' }]) })]);
    expect(errors(d).map((e) => e.path)).toContain('/nodes/0/config/body/nodes/0/type');
    let nested: unknown = { id: 'leaf', type: 'noop' };
    for (let i = 0; i < 12; i++) nested = mapNode(`m${i}`, { items: '[1]', body: body([nested]) });
    expect(errors(def([nested])).some((e) => e.message.includes('nest at most'))).toBe(true);
  });

  it('does not resolve or check body templates at the map level', () => {
    const d = def([mapNode('m', { items: '[1]', body: body([{ id: 'x', type: 'transform', config: { expression: 'item * 2' } }]) })]);
    expect(errors(d)).toEqual([]);
  });
});

describe('iteration planning helpers', () => {
  it('tolerated failures: count or percent of the total', () => {
    expect(toleratedCount(undefined, 100)).toBe(0);
    expect(toleratedCount({ count: 3 }, 100)).toBe(3);
    expect(toleratedCount({ percent: 5 }, 100)).toBe(5);
    expect(toleratedCount({ percent: 5 }, 19)).toBe(0);
  });

  it('sink rule: one sink gives its output, several an object by id', () => {
    const b = { nodes: [{ id: 'a', type: 'noop' }, { id: 'b', type: 'noop' }, { id: 'c', type: 'noop' }], edges: [{ from: 'a', to: 'b' }] };
    expect(sinkIds(b)).toEqual(['b', 'c']);
    expect(sinkResult(['b'], new Map([['b', 1]]))).toBe(1);
    expect(sinkResult(['b', 'c'], new Map([['b', 1]]))).toEqual({ b: 1, c: null });
  });

  it('ranges cover every item exactly once, in order', () => {
    fc.assert(
      fc.property(fc.nat(5_000), fc.integer({ min: 1, max: 700 }), (total, size) => {
        const ranges = itemRanges(total, size);
        let next = 0;
        for (const r of ranges) {
          expect(r.start).toBe(next);
          expect(r.end - r.start).toBeLessThanOrEqual(size);
          expect(r.end).toBeGreaterThan(r.start);
          next = r.end;
        }
        expect(next).toBe(total);
      }),
    );
  });

  it('size split keeps each batch under the byte budget unless one item alone is larger', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 200 }), (sizes) => {
        const parts = splitBySize({ start: 0, end: sizes.length }, (i) => sizes[i]!, 500);
        expect(parts.flatMap((p) => Array.from({ length: p.end - p.start }, (_, k) => p.start + k))).toEqual(sizes.map((_, i) => i));
        for (const p of parts) {
          const bytes = sizes.slice(p.start, p.end).reduce((a, b) => a + b, 0);
          expect(bytes <= 500 || p.end - p.start === 1).toBe(true);
        }
      }),
    );
  });

  it('plans stay within 500 pending operations per workflow and the concurrency bound', () => {
    fc.assert(
      fc.property(fc.nat(2_000_000), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 1_000 }), (total, cost, conc) => {
        const plan = planMap(total, cost, conc);
        expect(plan.itemsPerWorkflow * cost <= MAX_PENDING_PER_WORKFLOW || plan.itemsPerWorkflow === 1).toBe(true);
        expect(plan.itemsPerWorkflow).toBeLessThanOrEqual(conc);
        expect(plan.window).toBeLessThanOrEqual(MAX_PENDING_PER_WORKFLOW);
        // The window of batch children never runs more items at once than maxConcurrency.
        if (!plan.inline) expect(plan.window * plan.itemsPerWorkflow).toBeLessThanOrEqual(conc);
        if (!plan.inline) expect(plan.batchSize * cost).toBeLessThanOrEqual(Math.max(cost, 250));
      }),
    );
  });

  it('folds outcomes into results in item order; missing items are cancelled failures', () => {
    const outcomes: ItemOutcome[] = [
      { index: 2, status: 'SUCCEEDED', output: 'c' },
      { index: 0, status: 'SUCCEEDED', output: 'a' },
      { index: 1, status: 'FAILED', error: { type: 'Boom', message: 'x' } },
    ];
    const out = mapOutput(4, outcomes);
    expect(out.results).toEqual(['a', null, 'c', null]);
    expect(out.counts).toEqual({ total: 4, succeeded: 2, failed: 2 });
    expect(out.failures.map((f) => [f.index, f.error.type])).toEqual([[1, 'Boom'], [3, 'Cancelled']]);
    expect(mapOutput(0, [])).toEqual({ results: [], counts: { total: 0, succeeded: 0, failed: 0 }, failures: [] });
  });

  it('retry reuses exactly the items that succeeded', () => {
    const previous = mapOutput(5, [
      { index: 0, status: 'SUCCEEDED', output: 0 },
      { index: 1, status: 'FAILED', error: { type: 'X', message: '' } },
      { index: 2, status: 'SUCCEEDED', output: null },
      { index: 4, status: 'SUCCEEDED', output: 4 },
    ]);
    const reuse = reusableItems(previous, 5)!;
    expect([...reuse.keys()]).toEqual([0, 2, 4]);
    expect(reusableItems(previous, 6)).toBeUndefined();
    expect(reusableItems({ results: { $trellisRef: 'x' } }, 5)).toBeUndefined();
  });
});
