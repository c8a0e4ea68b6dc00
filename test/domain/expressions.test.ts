import { describe, expect, it } from 'vitest';
import {
  ExpressionCompiler,
  ExpressionError,
  escapePointer,
  expressionProblem,
  parseTemplate,
  resolveTemplates,
  templateExpressions,
  wholeTemplateExpression,
  type ExpressionContext,
} from '../../src/domain/expressions';

const context: ExpressionContext = {
  input: { baseUrl: 'https://api.example.com', wait: '5s', n: 3, flag: true, tags: ['a', 'b'] },
  nodes: {
    fetch: { status: 'SUCCEEDED', output: { status: 200, body: Array.from({ length: 12 }, (_, i) => ({ id: i + 1 })) } },
    small: { status: 'SUCCEEDED', output: { body: [{ id: 1 }] } },
    broken: { status: 'FAILED', error: { type: 'HttpServerError', message: 'boom' } },
  },
  execution: { id: 'exec-1', workflowId: 'wf-1', version: 2, startedAt: '2024-01-02T03:04:05.000Z' },
};

describe('parseTemplate', () => {
  it('returns undefined for strings without a template', () => {
    expect(parseTemplate('plain text')).toBeUndefined();
    expect(parseTemplate('')).toBeUndefined();
    expect(parseTemplate('only {{ opening')).toBeUndefined();
    expect(parseTemplate('closing }} only')).toBeUndefined();
  });

  it('splits text and trimmed expressions in order', () => {
    expect(parseTemplate('Hello {{ input.name }}, you have {{input.n}} items')).toEqual([
      { text: 'Hello ' },
      { expression: 'input.name' },
      { text: ', you have ' },
      { expression: 'input.n' },
      { text: ' items' },
    ]);
  });

  it('handles adjacent templates and a template alone', () => {
    expect(parseTemplate('{{ a }}{{ b }}')).toEqual([{ expression: 'a' }, { expression: 'b' }]);
    expect(parseTemplate('{{ input }}')).toEqual([{ expression: 'input' }]);
  });

  it('keeps multi-line expressions', () => {
    expect(parseTemplate('{{\n  $count(x)\n}}')).toEqual([{ expression: '$count(x)' }]);
  });
});

describe('wholeTemplateExpression', () => {
  it('returns the expression of a string that is exactly one template', () => {
    expect(wholeTemplateExpression('{{ nodes.fetch.output.body }}')).toBe('nodes.fetch.output.body');
    expect(wholeTemplateExpression('  {{ input.n }}  ')).toBe('input.n');
  });

  it('returns undefined when there is text or more than one template', () => {
    expect(wholeTemplateExpression('x {{ input.n }}')).toBeUndefined();
    expect(wholeTemplateExpression('{{ input.n }}/')).toBeUndefined();
    expect(wholeTemplateExpression('{{ a }}{{ b }}')).toBeUndefined();
    expect(wholeTemplateExpression('no template')).toBeUndefined();
  });
});

describe('templateExpressions', () => {
  it('finds every template with its JSON pointer path', () => {
    const config = {
      url: '{{ input.baseUrl }}/x/{{ input.n }}',
      headers: { 'a/b~c': '{{ input.token }}', plain: 'x' },
      list: ['no', { deep: '{{ nodes.fetch.output }}' }],
      count: 3,
      none: null,
    };
    expect([...templateExpressions(config, '/nodes/0/config')]).toEqual([
      { path: '/nodes/0/config/url', expression: 'input.baseUrl' },
      { path: '/nodes/0/config/url', expression: 'input.n' },
      { path: '/nodes/0/config/headers/a~1b~0c', expression: 'input.token' },
      { path: '/nodes/0/config/list/1/deep', expression: 'nodes.fetch.output' },
    ]);
  });

  it('escapes pointer segments per RFC 6901', () => {
    expect(escapePointer('a/b')).toBe('a~1b');
    expect(escapePointer('~/')).toBe('~0~1');
  });
});

describe('resolveTemplates', () => {
  const compiler = new ExpressionCompiler();
  const resolve = (value: unknown, skip: string[] = []) => resolveTemplates(value, context, compiler, skip);

  it('gives a whole template the expression value with its JSON type', async () => {
    expect(await resolve('{{ input.n }}')).toBe(3);
    expect(await resolve('{{ input.flag }}')).toBe(true);
    expect(await resolve('{{ nodes.small.output }}')).toEqual({ body: [{ id: 1 }] });
    expect(await resolve('{{ input.tags }}')).toEqual(['a', 'b']);
    expect(await resolve('{{ null }}')).toBeNull();
    expect(await resolve('{{ input.missing }}')).toBeNull();
    expect(await resolve(' {{ input.baseUrl }} ')).toBe('https://api.example.com');
  });

  it('interpolates templates inside longer strings as text', async () => {
    expect(await resolve("{{ input.baseUrl & '/orders' }}")).toBe('https://api.example.com/orders');
    expect(await resolve('{{ input.baseUrl }}/orders/{{ input.n }}')).toBe('https://api.example.com/orders/3');
    expect(await resolve('flag={{ input.flag }}')).toBe('flag=true');
    expect(await resolve('obj={{ nodes.small.output }}')).toBe('obj={"body":[{"id":1}]}');
    expect(await resolve('arr={{ input.tags }}')).toBe('arr=["a","b"]');
    expect(await resolve('[{{ null }}][{{ input.missing }}]')).toBe('[][]');
  });

  it('resolves nested objects and arrays and leaves other values alone', async () => {
    const value = {
      url: '{{ input.baseUrl }}/x',
      body: { count: '{{ $count(nodes.fetch.output.body) }}', items: ['{{ input.n }}', 'lit', 7, null, false] },
      n: 1,
      missing: null,
    };
    expect(await resolve(value)).toEqual({
      url: 'https://api.example.com/x',
      body: { count: 12, items: [3, 'lit', 7, null, false] },
      n: 1,
      missing: null,
    });
  });

  it('leaves skipKeys raw at the top level only', async () => {
    const value = { expression: '{{ input.n }}', other: '{{ input.n }}', nested: { expression: '{{ input.n }}' } };
    expect(await resolve(value, ['expression'])).toEqual({ expression: '{{ input.n }}', other: 3, nested: { expression: 3 } });
  });

  it('does not mutate its input', async () => {
    const value = { a: ['{{ input.n }}'] };
    await resolve(value);
    expect(value).toEqual({ a: ['{{ input.n }}'] });
  });

  it('rejects with an ExpressionError when a template does not evaluate', async () => {
    await expect(resolve({ a: '{{ $count( }}' })).rejects.toBeInstanceOf(ExpressionError);
    await expect(resolve('x {{ "a" + 1 }}')).rejects.toThrow(/must evaluate to a number/);
  });
});

describe('ExpressionCompiler.evaluate', () => {
  const compiler = new ExpressionCompiler();

  it('evaluates against input, nodes and execution', async () => {
    expect(await compiler.evaluate('$count(nodes.fetch.output.body) > 10', context)).toBe(true);
    expect(await compiler.evaluate('$count(nodes.small.output.body) > 10', context)).toBe(false);
    expect(await compiler.evaluate("input.baseUrl & '/orders'", context)).toBe('https://api.example.com/orders');
    expect(await compiler.evaluate('nodes.fetch.output.body[0]', context)).toEqual({ id: 1 });
    expect(await compiler.evaluate('nodes.broken.error.type', context)).toBe('HttpServerError');
    expect(await compiler.evaluate('nodes.broken.status', context)).toBe('FAILED');
    expect(await compiler.evaluate("execution.id & '@' & execution.version", context)).toBe('exec-1@2');
  });

  it('returns plain JSON: undefined becomes null and sequences become arrays', async () => {
    expect(await compiler.evaluate('input.nothing', context)).toBeNull();
    const ids = await compiler.evaluate('nodes.fetch.output.body[id < 4].id', context);
    expect(ids).toEqual([1, 2, 3]);
    expect(Object.keys(ids as object)).toEqual(['0', '1', '2']);
    expect(await compiler.evaluate('{"a": input.n * 2}', context)).toEqual({ a: 6 });
  });

  it('caches compiled expressions by text', () => {
    const c = new ExpressionCompiler();
    expect(c.compile('input.n')).toBe(c.compile('input.n'));
    expect(c.compile('input.n')).not.toBe(c.compile('input.n + 0'));
  });

  it('throws an ExpressionError with a message and position on a parse error', () => {
    let caught: unknown;
    try {
      compiler.compile('$count(nodes.fetch');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ExpressionError);
    const error = caught as ExpressionError;
    expect(error.name).toBe('ExpressionError');
    expect(error.expression).toBe('$count(nodes.fetch');
    expect(error.message).toMatch(/position \d+ in expression "\$count\(nodes\.fetch"/);
    expect(typeof error.position).toBe('number');
  });

  it('rejects evaluate with an ExpressionError on parse and runtime errors', async () => {
    await expect(compiler.evaluate('1 +', context)).rejects.toBeInstanceOf(ExpressionError);
    await expect(compiler.evaluate('"a" + 1', context)).rejects.toMatchObject({
      name: 'ExpressionError',
      expression: '"a" + 1',
      message: expect.stringMatching(/must evaluate to a number/),
    });
  });

  it('stops runaway recursion at the depth limit instead of overflowing the stack', async () => {
    await expect(compiler.evaluate('($f := function($x){ 1 + $f($x) }; $f(1))', context)).rejects.toMatchObject({
      name: 'ExpressionLimitExceeded',
      limit: 'depth',
    });
  });
});

describe('expression guards', () => {
  const compiler = new ExpressionCompiler();
  it('stops endless tail recursion, which never deepens the stack, by counting steps', async () => {
    await expect(compiler.evaluate('($f := function($x){ $f($x) }; $f(1))', context)).rejects.toMatchObject({
      name: 'ExpressionLimitExceeded',
      limit: 'steps',
      message: expect.stringMatching(/more than 50000 evaluation steps/),
    });
  });

  it('still evaluates large but finite work', async () => {
    await expect(compiler.evaluate('$sum([1..100000])', context)).resolves.toBe(5000050000);
  });

  it('refuses an expression whose value is a function', async () => {
    await expect(compiler.evaluate('function($x){ $x }', context)).rejects.toThrow(/returns a function, not a JSON value/);
  });
});

describe('expressionProblem', () => {
  it('is undefined for valid expressions', () => {
    for (const e of ['input.n', '$count(nodes.fetch.output.body) > 10', "input.baseUrl & '/orders'", '$now()', '{"a": 1}']) {
      expect(expressionProblem(e)).toBeUndefined();
    }
  });

  it('describes invalid expressions', () => {
    for (const e of ['', '1 +', '((', '$count(', 'a.[', '}']) {
      const problem = expressionProblem(e);
      expect(problem, e).toEqual(expect.any(String));
      expect(problem).toContain(`in expression "${e}"`);
    }
    expect(expressionProblem('((')).toMatch(/Expected "\)"/);
  });
});
