import { describe, expect, it } from 'vitest';
import { canonicalKeyOrder } from '../../src/domain/definition-order';

describe('canonicalKeyOrder', () => {
  it("puts a jsonb-shuffled definition's keys back in DESIGN.md's order, unknown keys after, values untouched", () => {
    // The order Postgres jsonb hands back: shorter keys first.
    const fromJsonb = {
      name: 'w',
      edges: [{ to: 'b', from: 'a', when: 'true' }],
      nodes: [
        { id: 'a', type: 'http', retry: { initialInterval: '1s', maximumAttempts: 3 }, config: { url: 'u', body: { z: 1, a: 2 }, method: 'POST' }, x_custom: 1 },
        { id: 'b', type: 'noop', trigger: 'all_done' },
      ],
      defaults: { timeout: { heartbeat: '5s', startToClose: '1m' }, retry: { maximumAttempts: 2 } },
      description: 'd',
    };
    const ordered = canonicalKeyOrder(fromJsonb);
    expect(ordered).toEqual(fromJsonb);
    expect(Object.keys(ordered)).toEqual(['name', 'description', 'defaults', 'nodes', 'edges']);
    expect(Object.keys(ordered.edges[0]!)).toEqual(['from', 'to', 'when']);
    expect(Object.keys(ordered.nodes[0]!)).toEqual(['id', 'type', 'config', 'retry', 'x_custom']);
    expect(Object.keys(ordered.nodes[0]!.config!)).toEqual(['method', 'url', 'body']);
    expect(Object.keys(ordered.nodes[0]!.config!.body)).toEqual(['z', 'a']); // user data keeps its order
    expect(Object.keys(ordered.nodes[0]!.retry!)).toEqual(['maximumAttempts', 'initialInterval']);
    expect(Object.keys(ordered.defaults)).toEqual(['retry', 'timeout']);
    expect(Object.keys(ordered.defaults.timeout)).toEqual(['startToClose', 'heartbeat']);
  });

  it('leaves anything that is not a definition object alone', () => {
    expect(canonicalKeyOrder(null)).toBeNull();
    expect(canonicalKeyOrder([1, 2])).toEqual([1, 2]);
    expect(canonicalKeyOrder({ nodes: 'x', edges: 3 })).toEqual({ nodes: 'x', edges: 3 });
  });
});
