import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ExpressionCompiler, resolveTemplates, type ExpressionContext } from '../../src/domain/expressions';
import { BUILTIN_NODE_TYPES, catalogOf } from '../../src/domain/node-types';
import { mentionsSecrets, secretRefName, secretRefPaths } from '../../src/domain/secrets';
import { validateDefinition } from '../../src/domain/validate';

const context: ExpressionContext = {
  input: { base: 'https://api.example.com', id: 7, sneaky: '{{ secrets.OTHER }}' },
  nodes: {},
  execution: { id: 'e', workflowId: 'w', version: 1, startedAt: '2024-01-01T00:00:00.000Z' },
};

describe('secret references in templates', () => {
  it('recognises only a whole secrets.NAME part as a reference', () => {
    expect(secretRefName(' secrets.API_TOKEN ')).toBe('API_TOKEN');
    expect(secretRefName('secrets.a.b')).toBeUndefined();
    expect(secretRefName("secrets.A & 'x'")).toBeUndefined();
    expect(mentionsSecrets("secrets.A & 'x'")).toBe(true);
    expect(mentionsSecrets('$string(secrets)')).toBe(false);
    expect(mentionsSecrets("$lookup(secrets['A'], 'x')")).toBe(true);
    expect(mentionsSecrets("input.secrets.x")).toBe(false);
    expect(mentionsSecrets("'secrets.A'")).toBe(false);
  });

  it('resolves the other parts in the workflow and keeps each secret part as a name', async () => {
    const compiler = new ExpressionCompiler();
    const config = {
      url: '{{ input.base }}/orders/{{ input.id }}?key={{ secrets.K }}',
      headers: { authorization: 'Bearer {{ secrets.TOKEN }}', 'x-id': '{{ input.id }}' },
      body: '{{ secrets.WHOLE }}',
      plain: '{{ input.sneaky }}',
    };
    const resolved = (await resolveTemplates(config, context, compiler)) as Record<string, unknown>;
    expect(resolved).toEqual({
      url: { $secretTemplate: ['https://api.example.com', '/orders/', '7', '?key=', { secret: 'K' }] },
      headers: { authorization: { $secretTemplate: ['Bearer ', { secret: 'TOKEN' }] }, 'x-id': 7 },
      body: { $secretTemplate: [{ secret: 'WHOLE' }] },
      // Text from run input that looks like a reference stays text: it is not in a listed path.
      plain: '{{ secrets.OTHER }}',
    });
    expect(secretRefPaths(config).map((p) => p.path)).toEqual(['/url', '/headers/authorization', '/body']);
    expect(JSON.stringify(resolved)).not.toMatch(/undefined/);
  });
});

const catalog = catalogOf([
  ...BUILTIN_NODE_TYPES,
  {
    type: 'http',
    execution: 'activity',
    secretFields: ['url', 'headers', 'query', 'body'],
    configSchema: Type.Object(
      {
        url: Type.String(),
        headers: Type.Optional(Type.Record(Type.String(), Type.String())),
        query: Type.Optional(Type.Record(Type.String(), Type.String())),
        timeoutMs: Type.Optional(Type.Unknown()),
      },
      { additionalProperties: false },
    ),
  },
  { type: 'custom', execution: 'activity', configSchema: Type.Object({ a: Type.Optional(Type.String()) }) },
]);
const names = new Set(['TOKEN', 'K']);
const problems = (nodes: unknown[], secretNames: ReadonlySet<string> | null = names) =>
  validateDefinition({ name: 'x', nodes }, { catalog, secretNames: secretNames ?? undefined });

describe('validation of secret references', () => {
  it('accepts references in declared fields of activity nodes', () => {
    const result = problems([
      { id: 'a', type: 'http', config: { url: 'https://x.test/?k={{ secrets.K }}', headers: { authorization: 'Bearer {{ secrets.TOKEN }}' } } },
    ]);
    expect(result).toEqual({ valid: true, errors: [] });
  });

  it('rejects them in inline nodes, undeclared fields, inside expressions, and unknown names', () => {
    const result = problems([
      { id: 't', type: 'transform', config: { expression: 'secrets.TOKEN' } },
      { id: 'c', type: 'condition', config: { expression: "secrets.TOKEN = 'x'" } },
      { id: 'f', type: 'fail', config: { message: 'token {{ secrets.TOKEN }}' } },
      { id: 's', type: 'subworkflow', config: { workflowId: 'w', input: { t: '{{ secrets.TOKEN }}' } } },
      { id: 'h', type: 'http', config: { url: 'https://x.test', timeoutMs: '{{ secrets.TOKEN }}' } },
      { id: 'u', type: 'custom', config: { a: '{{ secrets.TOKEN }}' } },
      { id: 'e', type: 'http', config: { url: "{{ 'https://x.test/?k=' & secrets.K }}" } },
      { id: 'n', type: 'http', config: { url: 'https://x.test/{{ secrets.MISSING }}' } },
    ]);
    expect(result.valid).toBe(false);
    const byPath = Object.fromEntries(result.errors.map((e) => [e.path, e.message]));
    expect(byPath['/nodes/0/config/expression']).toMatch(/never inside an expression/);
    expect(byPath['/nodes/1/config/expression']).toMatch(/never inside an expression/);
    expect(byPath['/nodes/2/config/message']).toMatch(/"fail" runs in the workflow/);
    expect(byPath['/nodes/3/config/input/t']).toMatch(/"subworkflow" runs in the workflow/);
    expect(byPath['/nodes/4/config/timeoutMs']).toMatch(/"timeoutMs" of type "http" cannot hold secret references \(it accepts them in: url, headers, query, body\)/);
    expect(byPath['/nodes/5/config/a']).toMatch(/declares no secret-capable fields/);
    expect(byPath['/nodes/6/config/url']).toMatch(/never inside an expression/);
    expect(byPath['/nodes/7/config/url']).toMatch(/unknown secret "MISSING" \(create it with PUT \/secrets\/MISSING\)/);
  });

  it('does not check names when the tenant is unknown (run-time validation)', () => {
    expect(problems([{ id: 'n', type: 'http', config: { url: 'https://x.test/{{ secrets.MISSING }}' } }], null).valid).toBe(true);
  });

  it('warns about credentials typed into a definition, naming the secrets feature', () => {
    const result = problems([
      {
        id: 'a',
        type: 'http',
        config: {
          url: 'https://bob:hunter2@x.test/path?api_key=abc123&page=2',
          headers: { Authorization: 'Bearer abc.def', 'x-trace': '1' },
          query: { token: 'tok_123', q: 'x' },
        },
      },
      { id: 'b', type: 'http', config: { url: '{{ input.base }}/p?token={{ input.t }}', headers: { authorization: 'Bearer {{ secrets.TOKEN }}' } } },
    ]);
    expect(result.valid).toBe(true);
    expect(result.warnings?.map((w) => w.path).sort()).toEqual([
      '/nodes/0/config/headers/Authorization',
      '/nodes/0/config/query/token',
      '/nodes/0/config/url',
      '/nodes/0/config/url',
    ]);
    for (const w of result.warnings ?? []) expect(w.message).toContain('{{ secrets.NAME }}');
  });
});
