import { describe, expect, it } from 'vitest';
import { createNodeRegistry } from '../../src/activities';
import { validateDefinition } from '../../src/domain/validate';
import { readNodes } from '../../src/domain/references';

// Issue 12: fields that mean nothing for a type, retry lists, error filters, runTimeout, nodes.X upstream.
const catalog = createNodeRegistry().catalog();
const errorsOf = (definition: unknown, options = {}) => validateDefinition(definition, { catalog, ...options }).errors;
const def = (nodes: unknown[], edges: unknown[] = [], extra: Record<string, unknown> = {}) => ({ name: 'test', nodes, edges, ...extra });
const http = (id: string, extra: Record<string, unknown> = {}) => ({ id, type: 'http', config: { url: 'https://example.com' }, ...extra });

describe('fields that mean nothing for the node type', () => {
  it('rejects retry and timeout on nodes that run no activity, with the path and why', () => {
    expect(errorsOf(def([{ id: 't', type: 'transform', config: { expression: '1' }, retry: { maximumAttempts: 2 } }]))).toEqual([
      { path: '/nodes/0/retry', message: '"retry" means nothing for a transform node: it runs no activity to retry' },
    ]);
    expect(errorsOf(def([{ id: 'd', type: 'delay', config: { duration: '1s' }, timeout: { startToClose: '5s' } }]))).toEqual([
      { path: '/nodes/0/timeout/startToClose', message: '"timeout.startToClose" means nothing for a delay node (it runs no activity)' },
    ]);
    expect(errorsOf(def([{ id: 'a', type: 'approval', timeout: { startToClose: '1h' } }]))[0]?.message).toMatch(/use config\.timeout/);
  });

  it('lets a subworkflow take timeout.startToClose only, and no retry', () => {
    const child = { id: 'c', type: 'subworkflow', config: { workflowId: 'wf_child' } };
    expect(errorsOf(def([{ ...child, timeout: { startToClose: '5s' } }]))).toEqual([]);
    expect(errorsOf(def([{ ...child, timeout: { heartbeat: '5s' }, retry: { maximumAttempts: 2 } }]))).toEqual([
      { path: '/nodes/0/retry', message: '"retry" means nothing for a subworkflow node: a child run is not retried (its own nodes retry)' },
      {
        path: '/nodes/0/timeout/heartbeat',
        message: '"timeout.heartbeat" means nothing for a subworkflow node (a subworkflow takes only "startToClose", the limit on its child run)',
      },
    ]);
  });

  it('still accepts stored definitions that break the newer rules (acceptStored)', () => {
    const old = def([{ id: 't', type: 'transform', config: { expression: 'nodes.ghost.output' }, retry: { maximumAttempts: 2 } }]);
    expect(errorsOf(old).length).toBe(2);
    expect(errorsOf(old, { acceptStored: true })).toEqual([]);
  });
});

describe('retry lists', () => {
  it('accepts the Step Functions retrier shape', () => {
    const retry = [
      { errors: ['RateLimited'], maximumAttempts: 5, initialInterval: '2s', backoffCoefficient: 2 },
      { errors: ['HttpClientError'], maximumAttempts: 1 },
      { errors: ['*'], maximumAttempts: 3, maximumInterval: '30s' },
    ];
    expect(errorsOf(def([http('call', { retry })]))).toEqual([]);
    expect(errorsOf(def([http('call')], [], { defaults: { retry } }))).toEqual([]);
  });

  it('wants errors on every retrier, "*" last, each type once, and durations that parse', () => {
    const errors = errorsOf(
      def([
        http('call', {
          retry: [{ errors: ['*'] }, { errors: ['A'], initialInterval: 'soon' }, { errors: ['A'] }, { maximumAttempts: 2 }],
        }),
      ]),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        { path: '/nodes/0/retry/0/errors', message: '"*" (every other error) may only be in the last retrier' },
        { path: '/nodes/0/retry/1/initialInterval', message: expect.stringMatching(/^"soon" is not a duration/) },
        { path: '/nodes/0/retry/2/errors', message: '"A" is already handled by retrier 1; this one would never apply' },
      ]),
    );
    expect(errors.some((e) => e.path.startsWith('/nodes/0/retry'))).toBe(true);
    expect(errorsOf(def([http('call', { retry: [] })])).length).toBeGreaterThan(0);
  });
});

describe('error edges filtered by type', () => {
  it('takes errors on error edges only', () => {
    expect(errorsOf(def([http('a'), http('b')], [{ from: 'a', to: 'b', on: 'error', errors: ['RateLimited', '*'] }]))).toEqual([]);
    expect(errorsOf(def([http('a'), http('b')], [{ from: 'a', to: 'b', errors: ['RateLimited'] }]))).toEqual([
      { path: '/edges/0/errors', message: '"errors" filters error edges only (add "on": "error")' },
    ]);
  });
});

describe('runTimeout', () => {
  it('is a duration between 0 and 30 days', () => {
    expect(errorsOf(def([http('a')], [], { runTimeout: '2h' }))).toEqual([]);
    expect(errorsOf(def([http('a')], [], { runTimeout: 'later' }))[0]?.path).toBe('/runTimeout');
    expect(errorsOf(def([http('a')], [], { runTimeout: 0 }))).toEqual([{ path: '/runTimeout', message: 'must be longer than 0' }]);
    expect(errorsOf(def([http('a')], [], { runTimeout: '31d' }))).toEqual([{ path: '/runTimeout', message: 'must be at most 30 days' }]);
  });
});

describe('nodes.X must be an upstream node', () => {
  it('finds root-level nodes.<id> reads in expressions', () => {
    expect(new Set(readNodes('$count(nodes.fetch.output.body) > 10 and nodes.`x-y`.status = "a"'))).toEqual(new Set(['fetch', 'x-y']));
    expect(readNodes('input.nodes.a')).toEqual([]);
    expect(readNodes('nodes')).toEqual([]);
    expect(readNodes('(((')).toEqual([]);
  });

  it('rejects a read of an unknown node or of a node that is not upstream, with the path', () => {
    const nodes = [
      http('a'),
      http('b'),
      { id: 'c', type: 'transform', config: { expression: 'nodes.a.output.body' } },
      http('d', { config: { url: '{{ nodes.b.output.body.url }}', body: { ghost: '{{ nodes.ghost.output }}' } } }),
    ];
    expect(errorsOf(def(nodes, [{ from: 'a', to: 'c' }]))).toEqual([
      { path: '/nodes/3/config/url', message: 'reads nodes.b, but "b" is not upstream of "d" (add an edge path from it; as is, it can only ever be null)' },
      { path: '/nodes/3/config/body/ghost', message: 'reads nodes.ghost, but there is no node "ghost"' },
    ]);
  });

  it('accepts reads through any path of edges (error edges and branches included)', () => {
    const nodes = [
      http('a'),
      { id: 'check', type: 'condition', config: { expression: 'nodes.a.output.status = 200' } },
      http('b'),
      { id: 'handler', type: 'transform', config: { expression: 'nodes.a.error.type & nodes.check.output.result' } },
    ];
    const edges = [
      { from: 'a', to: 'check' },
      { from: 'check', to: 'b', when: 'true' },
      { from: 'b', to: 'handler', on: 'error' },
    ];
    expect(errorsOf(def(nodes, edges))).toEqual([]);
  });

  it('rejects a node reading itself', () => {
    expect(errorsOf(def([{ id: 'x', type: 'fail', config: { message: '{{ nodes.x.status }}' } }]))).toEqual([
      { path: '/nodes/0/config/message', message: 'reads nodes.x, but "x" is not upstream of "x" (add an edge path from it; as is, it can only ever be null)' },
    ]);
  });
});
