import { describe, expect, it } from 'vitest';
import { ExpressionCompiler, PAGE_MAX_LIMIT, type ExpressionContext } from '../../src/domain/expressions';
import { holdsStoredOutput, storedReads } from '../../src/domain/stored-reads';

const ref = { $trellisRef: 'output_blobs/00000000-0000-4000-8000-000000000000', sizeBytes: 300_000 };
const context = (nodes: ExpressionContext['nodes'], input: unknown = {}): ExpressionContext => ({
  input,
  nodes,
  execution: { id: 'run-1', workflowId: 'wf', version: 1, startedAt: '2026-11-26T00:00:00.000Z' },
});

describe('$page(list, offset, limit)', () => {
  const compiler = new ExpressionCompiler();
  const long = Array.from({ length: 100_000 }, (_, i) => ({ i }));

  it('returns items [offset, offset + limit) of a 100,000-item list in a handful of steps', async () => {
    const before = compiler.stepsUsed;
    expect(await compiler.evaluate('$page(input.list, 99998, 5)', context({}, { list: long }))).toEqual([{ i: 99998 }, { i: 99999 }]);
    expect(compiler.stepsUsed - before).toBeLessThan(20);
    expect(await compiler.evaluate('$page(input.list, 10, 3).i', context({}, { list: long }))).toEqual([10, 11, 12]);
    expect(await compiler.evaluate('$page(input.list, 200000, 3)', context({}, { list: long }))).toEqual([]);
  });

  it('treats a single value as a one-item list and a missing one as nothing', async () => {
    expect(await compiler.evaluate('$page(input.one, 0, 5)', context({}, { one: 7 }))).toEqual([7]);
    expect(await compiler.evaluate('$page(input.none, 0, 5)', context({}))).toBeNull();
  });

  it('refuses a negative offset, a limit over the maximum, and a list that is still a reference', async () => {
    await expect(compiler.evaluate('$page(input.list, -1, 5)', context({}, { list: [1] }))).rejects.toThrow(/offset must be an integer >= 0/);
    await expect(compiler.evaluate(`$page(input.list, 0, ${PAGE_MAX_LIMIT + 1})`, context({}, { list: [1] }))).rejects.toThrow(/limit must be/);
    await expect(compiler.evaluate('$page(input.list, 0, 1.5)', context({}, { list: [1] }))).rejects.toThrow(/limit must be/);
    await expect(compiler.evaluate('$page(input.list, 0, 5)', context({}, { list: ref }))).rejects.toThrow(/stored by reference/);
  });

  it('reads what a filter over every item could not: the step limit stops `list.i` on 100,000 items', async () => {
    await expect(compiler.evaluate('input.list.i', context({}, { list: long }))).rejects.toThrow(/steps/);
  });
});

describe('storedReads: which nodes an expression reads that are stored by reference', () => {
  const nodes: ExpressionContext['nodes'] = {
    each: { status: 'SUCCEEDED', output: { results: ref, counts: { total: 3 }, failures: [] } },
    big: { status: 'SUCCEEDED', output: ref },
    small: { status: 'SUCCEEDED', output: { results: [1, 2] } },
  };

  it('finds a map whose results are stored and an activity output that is stored whole', () => {
    expect(storedReads('$page(nodes.each.output.results, 0, 10)', nodes)).toEqual(['each']);
    expect(storedReads('nodes.big.output.rows[0] & nodes.small.output.results[0]', nodes)).toEqual(['big']);
  });

  it('ignores nodes held inline, nodes not in the context, and expressions that read no node', () => {
    expect(storedReads('nodes.small.output.results', nodes)).toEqual([]);
    expect(storedReads('nodes.ghost.output', nodes)).toEqual([]);
    expect(storedReads('input.x + 1', nodes)).toEqual([]);
  });

  it('looks one level into an output, no deeper (a reference is either the output or one of its fields)', () => {
    expect(holdsStoredOutput(ref)).toBe(true);
    expect(holdsStoredOutput({ results: ref })).toBe(true);
    expect(holdsStoredOutput({ deep: { results: ref } })).toBe(false);
    expect(holdsStoredOutput([ref])).toBe(false);
    expect(holdsStoredOutput(null)).toBe(false);
  });
});
