import { describe, expect, it } from 'vitest';
import { ExpressionCompiler, type ExpressionContext } from '../../src/domain/expressions';
import { evaluateInlineNode } from '../../src/domain/inline-nodes';
import { runInlineNode } from '../../src/workflows/inline-nodes';

/**
 * POST /workflows/test-node evaluates in-workflow types with src/domain/inline-nodes.ts; runs use
 * src/workflows/inline-nodes.ts (kept apart: see the domain file). Both must give the same
 * output, or the same failure (type and message), for every type.
 */
const context: ExpressionContext = {
  input: { n: 3, who: 'ada' },
  nodes: { up: { status: 'SUCCEEDED', output: { total: 130 }, error: null } },
  execution: { id: 'ex_1', workflowId: 'wf_1', version: 1, startedAt: '2026-01-01T00:00:00.000Z' },
};

type Outcome = { output: unknown; branchValue?: unknown } | { type: string | undefined; message: string };

async function outcome(run: () => Promise<{ output: unknown; branchValue?: unknown }>): Promise<Outcome> {
  try {
    return await run();
  } catch (err) {
    return { type: (err as { type?: string }).type ?? (err as Error).name, message: (err as Error).message };
  }
}

const CASES: [string, string, Record<string, unknown>, boolean?][] = [
  ['noop', 'noop', {}],
  ['transform', 'transform', { expression: '{ "who": input.who, "total": nodes.up.output.total * input.n }' }],
  ['condition true', 'condition', { expression: 'nodes.up.output.total > 100' }],
  ['condition not boolean', 'condition', { expression: 'input.n' }],
  ['switch', 'switch', { expression: 'input.who' }],
  ['switch null, default edge', 'switch', { expression: 'input.missing' }, true],
  ['switch null, no default edge', 'switch', { expression: 'input.missing' }, false],
  ['switch object', 'switch', { expression: 'nodes.up.output' }],
  ['fail with type', 'fail', { message: 'stop here', type: 'Stopped' }],
  ['fail bare', 'fail', {}],
  ['transform limit', 'transform', { expression: '($f := function(){ $f() }; $f())' }],
];

describe('in-workflow node types: the API and the workflow agree', () => {
  it.each(CASES)('%s', async (_name, type, config, defaults = false) => {
    const node = { id: 'n', type };
    const api = await outcome(() => evaluateInlineNode(node, config, (e) => new ExpressionCompiler().evaluate(String(e), context), () => defaults));
    const run = await outcome(() => runInlineNode(node, config, context, new ExpressionCompiler(), () => defaults));
    expect(api).toEqual(run);
  });
});

it('the cases do run: a transform gives its value, a condition its result, a fail its error', async () => {
  const evaluate = (e: unknown) => new ExpressionCompiler().evaluate(String(e), context);
  expect(await evaluateInlineNode({ id: 't', type: 'transform' }, CASES[1]![2], evaluate)).toEqual({ output: { who: 'ada', total: 390 } });
  expect(await evaluateInlineNode({ id: 'c', type: 'condition' }, CASES[2]![2], evaluate)).toEqual({ output: { result: true }, branchValue: true });
  await expect(runInlineNode({ id: 'f', type: 'fail' }, { message: 'stop here', type: 'Stopped' }, context, new ExpressionCompiler())).rejects.toMatchObject({ type: 'Stopped', message: 'stop here' });
});
