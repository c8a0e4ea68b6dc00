import { describe, expect, it } from 'vitest';
import { evaluatedKey, limiterWorkflowId, rootReads } from '../../src/domain/flow-control';
import { validateDefinition } from '../../src/domain/validate';

const http = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: 'http', config: { url: 'https://example.com' }, ...extra });

function errorsOf(definition: unknown): { path: string; message: string }[] {
  return validateDefinition(definition, { allowUnknownTypes: true }).errors;
}

describe('flow control validation (DESIGN.md §5)', () => {
  it('accepts the §5 example, run-level concurrency included', () => {
    const definition = {
      name: 'sync-customer',
      concurrency: { key: '{{ input.customerId }}', limit: 1, onLimit: 'queue' },
      nodes: [
        http('charge', {
          concurrency: { key: 'payments-api', limit: 5 },
          rateLimit: { key: "{{ 'payments:' & input.account }}", limit: 10, per: '1s' },
        }),
      ],
    };
    expect(errorsOf(definition)).toEqual([]);
  });

  it('lists every problem with its path', () => {
    const definition = {
      name: 'bad',
      concurrency: { key: '{{ nodes.a.output }}', limit: 0, onLimit: 'wait' },
      nodes: [
        http('a', { concurrency: { key: 'x'.repeat(201), limit: 1 }, rateLimit: { key: 'k', limit: 1, per: '50ms' } }),
        http('b', { rateLimit: { key: 'k', limit: 1, per: '25h' } }),
        { id: 't', type: 'transform', config: { expression: '1' }, concurrency: { key: 'k', limit: 1 } },
        { id: 'd', type: 'delay', config: { duration: '1s' }, rateLimit: { key: 'k', limit: 1, per: '1s' } },
        http('c', { concurrency: { key: '{{ secrets.TOKEN }}', limit: 2 }, rateLimit: { key: '{{ input. }}', limit: 1, per: '1s' } }),
      ],
      edges: [{ from: 'a', to: 't' }],
    };
    const errors = errorsOf(definition);
    const paths = errors.map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/concurrency/limit',
        '/concurrency/onLimit',
        '/concurrency/key',
        '/nodes/0/concurrency/key',
        '/nodes/0/rateLimit/per',
        '/nodes/1/rateLimit/per',
        '/nodes/2/concurrency',
        '/nodes/3/rateLimit',
        '/nodes/4/concurrency/key',
        '/nodes/4/rateLimit/key',
      ]),
    );
    expect(errors.find((e) => e.path === '/concurrency/key')!.message).toMatch(/only input.*"nodes"/);
    expect(errors.find((e) => e.path === '/nodes/2/concurrency')!.message).toMatch(/activity node types/);
    expect(errors.find((e) => e.path === '/nodes/4/concurrency/key')!.message).toMatch(/secrets/);
    expect(errors.find((e) => e.path === '/nodes/0/rateLimit/per')!.message).toMatch(/between 100ms and 24h/);
  });

  it('requires key and limit at node level, and no unknown fields', () => {
    const errors = errorsOf({ name: 'x', nodes: [http('a', { concurrency: { limit: 1, onLimit: 'drop' }, rateLimit: { key: 'k', limit: 2 } })] });
    const paths = errors.map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['/nodes/0/concurrency/key', '/nodes/0/concurrency/onLimit', '/nodes/0/rateLimit/per']));
  });

  it('checks nodes of map bodies too', () => {
    const definition = {
      name: 'm',
      nodes: [
        {
          id: 'each',
          type: 'map',
          config: { items: '[1,2]', body: { nodes: [http('leaf', { concurrency: { key: 'k', limit: 0 } })], edges: [] } },
        },
      ],
    };
    expect(errorsOf(definition).map((e) => e.path)).toContain('/nodes/0/config/body/nodes/0/concurrency/limit');
    const ok = structuredClone(definition);
    (ok.nodes[0]!.config.body.nodes[0] as Record<string, unknown>).concurrency = { key: '{{ "k" & item }}', limit: 2 };
    expect(errorsOf(ok)).toEqual([]);
  });

  it('a run key without template, and without a key at all, is valid', () => {
    expect(errorsOf({ name: 'x', concurrency: { key: 'all', limit: 2 }, nodes: [http('a')] })).toEqual([]);
    expect(errorsOf({ name: 'x', concurrency: { limit: 2, onLimit: 'replace' }, nodes: [http('a')] })).toEqual([]);
  });
});

describe('flow control helpers', () => {
  it('rootReads finds only root names', () => {
    expect(rootReads('input.items[price > 3].id')).toEqual(['input']);
    expect(rootReads("$string(input.a) & '-' & execution.id")).toEqual(expect.arrayContaining(['input', 'execution']));
    expect(rootReads('$$.nodes')).toContain('$$');
  });

  it('limiter ids keep tenants and kinds apart and cannot be forged with separators', () => {
    expect(limiterWorkflowId('a', 'concurrency', 'k')).not.toBe(limiterWorkflowId('b', 'concurrency', 'k'));
    expect(limiterWorkflowId('a', 'concurrency', 'k')).not.toBe(limiterWorkflowId('a', 'rateLimit', 'k'));
    expect(limiterWorkflowId('a/concurrency/x', 'concurrency', 'k')).not.toBe(limiterWorkflowId('a', 'concurrency', 'x/concurrency/k'));
  });

  it('evaluatedKey bounds what a template yields', () => {
    expect(evaluatedKey('k')).toEqual({ key: 'k' });
    expect(evaluatedKey(42)).toEqual({ key: '42' });
    expect(evaluatedKey(null)).toHaveProperty('problem');
    expect(evaluatedKey('x'.repeat(201))).toHaveProperty('problem');
  });
});
