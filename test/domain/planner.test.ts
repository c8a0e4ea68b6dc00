import { describe, expect, it } from 'vitest';
import type { EdgeDef, NodeDef, NodeStatus } from '../../src/domain/definition';
import { DagPlanner, type Decision } from '../../src/domain/planner';

const n = (id: string, extra: Partial<NodeDef> = {}): NodeDef => ({ id, type: 'noop', ...extra });
const cond = (id: string, extra: Partial<NodeDef> = {}): NodeDef => n(id, { type: 'condition', config: { expression: 'true' }, ...extra });
const e = (from: string, to: string, extra: Partial<EdgeDef> = {}): EdgeDef => ({ from, to, ...extra });
const plan = (nodes: NodeDef[], edges: EdgeDef[] = []) => new DagPlanner({ nodes, edges });

const ok: { status: NodeStatus } = { status: 'SUCCEEDED' };
const failed: { status: NodeStatus } = { status: 'FAILED' };

/** Starts and settles a node in one go (the planner requires nothing between the two). */
function run(p: DagPlanner, id: string, status: NodeStatus = 'SUCCEEDED', branch?: string): Decision {
  p.markStarted(id);
  return p.settle(id, { status, branch });
}

const statusMap = (p: DagPlanner) => Object.fromEntries(p.statuses());

describe('DagPlanner', () => {
  it('runs a linear chain one node at a time', () => {
    const p = plan([n('a'), n('b'), n('c')], [e('a', 'b'), e('b', 'c')]);
    expect(p.start()).toEqual({ ready: ['a'], skipped: [] });
    expect(p.status('a')).toBe('PENDING');
    p.markStarted('a');
    expect(p.status('a')).toBe('RUNNING');
    expect(p.settle('a', ok)).toEqual({ ready: ['b'], skipped: [] });
    expect(run(p, 'b')).toEqual({ ready: ['c'], skipped: [] });
    expect(p.isComplete()).toBe(false);
    expect(run(p, 'c')).toEqual({ ready: [], skipped: [] });
    expect(p.isComplete()).toBe(true);
    expect(p.failedNode).toBeUndefined();
    expect(p.statuses()).toEqual([['a', 'SUCCEEDED'], ['b', 'SUCCEEDED'], ['c', 'SUCCEEDED']]);
  });

  it('starts every root at once, in definition order, and joins them', () => {
    const p = plan([n('x'), n('join'), n('y'), n('z')], [e('x', 'join'), e('y', 'join'), e('z', 'join')]);
    expect(p.start()).toEqual({ ready: ['x', 'y', 'z'], skipped: [] });
    expect(run(p, 'y')).toEqual({ ready: [], skipped: [] });
    expect(run(p, 'x')).toEqual({ ready: [], skipped: [] });
    expect(run(p, 'z')).toEqual({ ready: ['join'], skipped: [] });
  });

  it('records WAITING as a started state', () => {
    const p = plan([n('a', { type: 'delay' })]);
    p.start();
    p.markStarted('a', 'WAITING');
    expect(p.status('a')).toBe('WAITING');
    expect(p.pending()).toEqual([]);
  });

  describe('branching (DESIGN.md example shape)', () => {
    const build = () =>
      plan(
        [n('fetch'), cond('big'), n('bulk'), n('one'), n('done', { trigger: 'none_failed' })],
        [e('fetch', 'big'), e('big', 'bulk', { when: 'true' }), e('big', 'one', { when: 'false' }), e('bulk', 'done'), e('one', 'done')],
      );

    it.each([
      [true, 'bulk', 'one'],
      [false, 'one', 'bulk'],
    ])('condition %s runs %s, skips %s, and the none_failed join runs', (value, taken, untaken) => {
      const p = build();
      p.start();
      run(p, 'fetch');
      expect(run(p, 'big', 'SUCCEEDED', p.branchLabel('big', value))).toEqual({ ready: [taken], skipped: [untaken] });
      expect(run(p, taken)).toEqual({ ready: ['done'], skipped: [] });
      run(p, 'done');
      expect(p.status(untaken)).toBe('SKIPPED');
      expect(p.isComplete()).toBe(true);
    });

    it('skips the join when the taken branch fails (onError continue)', () => {
      const p = plan(
        [cond('big'), n('bulk', { onError: 'continue' }), n('one'), n('done', { trigger: 'none_failed' })],
        [e('big', 'bulk', { when: 'true' }), e('big', 'one', { when: 'false' }), e('bulk', 'done'), e('one', 'done')],
      );
      p.start();
      run(p, 'big', 'SUCCEEDED', 'true');
      expect(run(p, 'bulk', 'FAILED')).toEqual({ ready: [], skipped: ['done'] });
      expect(p.failedNode).toBeUndefined();
    });
  });

  it('follows a switch case, falls back to default, and skips the rest', () => {
    const build = () =>
      plan(
        [n('s', { type: 'switch' }), n('refund'), n('order'), n('other')],
        [e('s', 'refund', { when: 'refund' }), e('s', 'order', { when: 'order' }), e('s', 'other', { when: 'default' })],
      );
    const p = build();
    p.start();
    expect(run(p, 's', 'SUCCEEDED', p.branchLabel('s', 'refund'))).toEqual({ ready: ['refund'], skipped: ['order', 'other'] });
    const q = build();
    q.start();
    expect(q.branchLabel('s', 'unknown')).toBe('default');
    expect(run(q, 's', 'SUCCEEDED', q.branchLabel('s', 'unknown'))).toEqual({ ready: ['other'], skipped: ['refund', 'order'] });
  });

  it('derives branch labels from values', () => {
    const p = plan([cond('c'), n('s', { type: 'switch' }), n('a'), n('b')], [e('c', 'a', { when: 'true' }), e('s', 'b', { when: '42' })]);
    expect(p.branchLabel('c', true)).toBe('true');
    expect(p.branchLabel('c', false)).toBe('false');
    expect(p.branchLabel('s', 42)).toBe('42');
    expect(p.branchLabel('s', '42')).toBe('42');
    expect(p.branchLabel('s', 'x')).toBe('default');
    expect(p.branchLabel('s', null)).toBe('default');
  });

  it('all_success: a failed (continue) node skips its successors, cascading', () => {
    const p = plan([n('a', { onError: 'continue' }), n('b'), n('c'), n('d', { trigger: 'none_failed' })], [e('a', 'b'), e('b', 'c'), e('c', 'd')]);
    p.start();
    expect(run(p, 'a', 'FAILED')).toEqual({ ready: [], skipped: ['b', 'c', 'd'] });
    expect(p.failedNode).toBeUndefined();
    expect(p.isComplete()).toBe(true);
  });

  it('none_failed: a failed upstream skips the node although another succeeded', () => {
    const p = plan([n('a'), n('b', { onError: 'continue' }), n('j', { trigger: 'none_failed' })], [e('a', 'j'), e('b', 'j')]);
    p.start();
    run(p, 'a');
    expect(run(p, 'b', 'FAILED')).toEqual({ ready: [], skipped: ['j'] });
  });

  it('none_failed: skipped upstreams count as untaken, one taken edge suffices', () => {
    const p = plan([n('a'), n('b', { onError: 'continue' }), n('c'), n('j', { trigger: 'none_failed' })], [e('b', 'c'), e('a', 'j'), e('c', 'j')]);
    p.start();
    run(p, 'b', 'FAILED');
    expect(p.status('c')).toBe('SKIPPED');
    expect(run(p, 'a')).toEqual({ ready: ['j'], skipped: [] });
  });

  describe('all_done', () => {
    const build = () => plan([n('work', { onError: 'continue' }), n('cleanup', { trigger: 'all_done' })], [e('work', 'cleanup')]);

    it('runs after a failed (continue) node and after success', () => {
      const p = build();
      p.start();
      expect(run(p, 'work', 'FAILED')).toEqual({ ready: ['cleanup'], skipped: [] });
      const q = build();
      q.start();
      expect(run(q, 'work')).toEqual({ ready: ['cleanup'], skipped: [] });
    });

    it('runs after a cancelled upstream', () => {
      const p = build();
      p.start();
      p.markStarted('work');
      expect(p.settle('work', { status: 'CANCELLED' })).toEqual({ ready: ['cleanup'], skipped: [] });
    });

    it('is skipped when its only edge is an untaken branch, but runs after a skipped node', () => {
      const p = plan(
        [cond('c'), n('mid'), n('after', { trigger: 'all_done' }), n('tail', { trigger: 'all_done' })],
        [e('c', 'after', { when: 'true' }), e('c', 'mid', { when: 'true' }), e('mid', 'tail')],
      );
      p.start();
      expect(run(p, 'c', 'SUCCEEDED', 'false')).toEqual({ ready: ['tail'], skipped: ['after', 'mid'] });
    });
  });

  describe('error edges', () => {
    const build = () =>
      plan([n('risky'), n('next'), n('handler')], [e('risky', 'next'), e('risky', 'handler', { on: 'error' })]);

    it('are taken only on failure, and the node does not fail the run', () => {
      const p = build();
      p.start();
      expect(p.failsRun('risky')).toBe(false);
      expect(run(p, 'risky', 'FAILED')).toEqual({ ready: ['handler'], skipped: ['next'] });
      expect(p.failedNode).toBeUndefined();
    });

    it('skip the handler on success', () => {
      const p = build();
      p.start();
      expect(run(p, 'risky')).toEqual({ ready: ['next'], skipped: ['handler'] });
    });

    it('are untaken when their source was skipped or cancelled', () => {
      const p = plan(
        [n('a', { onError: 'continue' }), n('b'), n('c'), n('h1', { trigger: 'all_done' }), n('h2', { trigger: 'all_done' })],
        [e('a', 'b'), e('b', 'h1', { on: 'error' }), e('c', 'h2', { on: 'error' })],
      );
      p.start();
      expect(run(p, 'a', 'FAILED')).toEqual({ ready: [], skipped: ['b', 'h1'] });
      p.markStarted('c');
      expect(p.settle('c', { status: 'CANCELLED' })).toEqual({ ready: [], skipped: ['h2'] });
    });

    it('skip an all_done handler on success (the error edge is untaken)', () => {
      const p = plan([n('risky'), n('handler', { trigger: 'all_done' })], [e('risky', 'handler', { on: 'error' })]);
      p.start();
      expect(run(p, 'risky')).toEqual({ ready: [], skipped: ['handler'] });
    });
  });

  describe('fatal failure', () => {
    it('sets failedNode, skips nodes decided later, but still runs all_done nodes', () => {
      const p = plan(
        [n('a'), n('b'), n('c'), n('d'), n('cleanup', { trigger: 'all_done' })],
        [e('a', 'c'), e('b', 'd'), e('a', 'cleanup'), e('d', 'cleanup')],
      );
      expect(p.start().ready).toEqual(['a', 'b']);
      expect(p.failsRun('a')).toBe(true);
      expect(run(p, 'a', 'FAILED')).toEqual({ ready: [], skipped: ['c'] });
      expect(p.failedNode).toBe('a');
      // b was already running and succeeds, but its successor is decided after the failure.
      expect(run(p, 'b')).toEqual({ ready: ['cleanup'], skipped: ['d'] });
      run(p, 'cleanup');
      expect(statusMap(p)).toEqual({ a: 'FAILED', b: 'SUCCEEDED', c: 'SKIPPED', d: 'SKIPPED', cleanup: 'SUCCEEDED' });
    });

    it('runs a cleanup (all_done) that sits behind nodes the failure skipped', () => {
      const p = plan([n('a'), n('b'), n('cleanup', { trigger: 'all_done' })], [e('a', 'b'), e('b', 'cleanup')]);
      p.start();
      expect(run(p, 'a', 'FAILED')).toEqual({ ready: ['cleanup'], skipped: ['b'] });
    });

    it('keeps the first fatal node', () => {
      const p = plan([n('a'), n('b'), n('c', { trigger: 'all_done' })], [e('a', 'c'), e('b', 'c')]);
      p.start();
      run(p, 'b', 'FAILED');
      expect(run(p, 'a', 'FAILED')).toEqual({ ready: ['c'], skipped: [] });
      expect(p.failedNode).toBe('b');
    });

    it('makes final statuses depend on completion order', () => {
      const build = () => plan([n('a'), n('b'), n('c')], [e('b', 'c')]);
      const first = build();
      first.start();
      run(first, 'a', 'FAILED');
      run(first, 'b');
      const second = build();
      second.start();
      run(second, 'b');
      run(second, 'a', 'FAILED');
      expect(first.status('c')).toBe('SKIPPED');
      expect(second.status('c')).toBe('PENDING'); // decided ready before the failure: the interpreter still runs it
    });

    it('onError continue is not fatal', () => {
      const p = plan([n('a', { onError: 'continue' }), n('b', { trigger: 'all_done' })], [e('a', 'b')]);
      expect(p.failsRun('a')).toBe(false);
      p.start();
      run(p, 'a', 'FAILED');
      expect(p.failedNode).toBeUndefined();
    });
  });

  it('cancelPending cancels every not-started node without cascading', () => {
    const p = plan([n('a'), n('b'), n('c'), n('d', { trigger: 'all_done' })], [e('a', 'c'), e('b', 'c'), e('c', 'd')]);
    p.start();
    p.markStarted('a');
    expect(p.cancelPending()).toEqual(['b', 'c', 'd']);
    expect(statusMap(p)).toEqual({ a: 'RUNNING', b: 'CANCELLED', c: 'CANCELLED', d: 'CANCELLED' });
    expect(p.settle('a', { status: 'CANCELLED' })).toEqual({ ready: [], skipped: [] });
    expect(p.isComplete()).toBe(true);
    expect(() => p.markStarted('b')).toThrow(/cannot go from CANCELLED to RUNNING/);
  });

  it('rejects invalid transitions', () => {
    const p = plan([n('a'), n('b')], [e('a', 'b')]);
    p.start();
    run(p, 'a');
    expect(() => p.settle('a', ok)).toThrow('node "a" is already SUCCEEDED');
    expect(() => p.settle('a', failed)).toThrow(/already SUCCEEDED/);
    expect(() => p.markStarted('a')).toThrow(/cannot go from SUCCEEDED/);
    p.markStarted('b');
    expect(() => p.markStarted('b')).toThrow(/cannot go from RUNNING to RUNNING/);
    expect(() => p.settle('b', { status: 'RUNNING' })).toThrow('"RUNNING" is not a terminal status');
    expect(() => p.settle('ghost', ok)).toThrow('unknown node "ghost"');
    expect(() => p.status('ghost')).toThrow('unknown node "ghost"');
  });

  it('decides a diamond join exactly once', () => {
    const p = plan([n('top'), n('l'), n('r'), n('join')], [e('top', 'l'), e('top', 'r'), e('l', 'join'), e('r', 'join')]);
    p.start();
    expect(run(p, 'top')).toEqual({ ready: ['l', 'r'], skipped: [] });
    expect(run(p, 'l')).toEqual({ ready: [], skipped: [] });
    expect(run(p, 'r')).toEqual({ ready: ['join'], skipped: [] });
    run(p, 'join');
    expect(p.isComplete()).toBe(true);
  });

  it('decides a node reached by two edges from one source once', () => {
    const p = plan([n('a'), n('b', { trigger: 'all_done' })], [e('a', 'b'), e('a', 'b', { on: 'error' })]);
    p.start();
    expect(run(p, 'a')).toEqual({ ready: ['b'], skipped: [] });
    const q = plan([cond('c'), n('x', { trigger: 'none_failed' })], [e('c', 'x', { when: 'true' }), e('c', 'x', { when: 'false' })]);
    q.start();
    expect(run(q, 'c', 'SUCCEEDED', 'false')).toEqual({ ready: ['x'], skipped: [] });
  });

  it('decides a diamond join (all_done) exactly once when both sides are skipped', () => {
    const p = plan(
      [n('top', { onError: 'continue' }), n('l'), n('r'), n('join', { trigger: 'all_done' }), n('end')],
      [e('top', 'l'), e('top', 'r'), e('l', 'join'), e('r', 'join'), e('join', 'end')],
    );
    p.start();
    expect(run(p, 'top', 'FAILED')).toEqual({ ready: ['join'], skipped: ['l', 'r'] });
    expect(run(p, 'join')).toEqual({ ready: ['end'], skipped: [] });
  });
});
