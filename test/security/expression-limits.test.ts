import { describe, expect, it } from 'vitest';
import { EXPRESSION_LIMITS, ExpressionCompiler, expressionProblem, type ExpressionContext } from '../../src/domain/expressions';
import { referenceProblems } from '../../src/domain/references';

/**
 * Issue 9's hostile expressions, evaluated as the workflow evaluates them. Each must end in an
 * ExpressionLimitExceeded naming the limit (or a plain result), quickly and without building
 * the oversized value first.
 */
const context: ExpressionContext = {
  input: { big: 'x'.repeat(200_000) },
  nodes: {},
  execution: { id: 'ex_1', workflowId: 'wf_1', version: 1, startedAt: '2026-01-01T00:00:00.000Z' },
};
const compiler = new ExpressionCompiler();

async function limitOf(expression: string): Promise<string | undefined> {
  try {
    await compiler.evaluate(expression, context);
    return undefined;
  } catch (err) {
    expect((err as Error).name).toBe('ExpressionLimitExceeded');
    return (err as { limit?: string }).limit;
  }
}

describe('expression limits', () => {
  it('non-tail recursion stops at the depth limit', async () => {
    expect(await limitOf('($f := function($n){ $n = 0 ? 0 : 1 + $f($n-1) }; $f(5000))')).toBe('depth');
  });

  it('tail recursion of 2,000 levels is fine, endless tail recursion stops at the step limit', async () => {
    await expect(compiler.evaluate('($f := function($n, $acc){ $n = 0 ? $acc : $f($n-1, $acc+$n) }; $f(2000, 0))', context)).resolves.toBe(2001000);
    expect(await limitOf('($f := function(){ $f() }; $f())')).toBe('steps');
  });

  it('a catastrophic-backtracking regex runs in linear time on RE2', async () => {
    const started = Date.now();
    await expect(compiler.evaluate('$match("' + 'a'.repeat(5000) + '!", /(a+)+$/)', context)).resolves.toBeNull();
    // Not a timing assertion on the engine's speed: a backtracking engine takes geological time here.
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(compiler.evaluate('$replace("abcabc", /b(c)/, "[$1]")', context)).resolves.toBe('a[c]a[c]');
    await expect(compiler.evaluate('$contains("Hello", /L+/i)', context)).resolves.toBe(true);
  });

  it('regex features RE2 lacks fail with a clear error', async () => {
    await expect(compiler.evaluate('$match("aa", /(a)\\1/)', context)).rejects.toThrow(/RE2|backreference|not supported/i);
  });

  it('$pad, $join and $replace refuse to build oversized strings before building them', async () => {
    expect(await limitOf('$pad("", 200000000)')).toBe('stringLength');
    expect(await limitOf('$join([input.big, input.big, input.big, input.big, input.big, input.big])')).toBe('stringLength');
    expect(await limitOf('$replace(input.big, "x", input.big)')).toBe('stringLength');
  });

  it('doubling a string stops at the string limit; total allocation is bounded too', async () => {
    expect(await limitOf('($f := function($s){ $f($s & $s) }; $f("ab"))')).toBe('stringLength');
    expect(await limitOf('($f := function($n){ $n = 0 ? 0 : ($string(input.big) ; $f($n-1)) }; $f(150))')).toBe('allocation');
  });

  it('huge arrays stop at the array limit', async () => {
    expect(await limitOf('[1..10000000]')).toBe('arrayLength');
    await expect(compiler.evaluate(`$count([1..${EXPRESSION_LIMITS.arrayLength}])`, context)).resolves.toBe(EXPRESSION_LIMITS.arrayLength);
  });

  it('validation compiles regexes with the same engine', () => {
    expect(expressionProblem('$match(input.s, /(a+)+$/)')).toBeUndefined();
  });
});

describe('the linear-time regex engine stays on', () => {
  it('after save-time checks parse expressions, evaluation still uses RE2', async () => {
    const compiled = new ExpressionCompiler();
    // JSONata 1.8 keeps its regex engine in a module-global every compile sets: a parse made
    // without the option would switch later evaluations back to backtracking RegExp.
    referenceProblems([{ id: 'a', type: 'transform', config: { expression: 'nodes.b.output' } }], [], new Map());
    await expect(compiled.evaluate('$match("aa", /(a)\\1/)', context)).rejects.toThrow(/not supported/);
  });
});
