import { describe, expect, it } from 'vitest';
import type { EdgeDef, NodeDef, NodeStatus } from '../../src/domain/definition';
import { DagPlanner, type Decision } from '../../src/domain/planner';

// Issue 12: Airflow's trigger rules, error edges filtered by type, cancel/timeout as `finally`.
const n = (id: string, extra: Partial<NodeDef> = {}): NodeDef => ({ id, type: 'noop', ...extra });
const cond = (id: string): NodeDef => n(id, { type: 'condition', config: { expression: 'true' } });
const e = (from: string, to: string, extra: Partial<EdgeDef> = {}): EdgeDef => ({ from, to, ...extra });
const plan = (nodes: NodeDef[], edges: EdgeDef[] = []) => new DagPlanner({ nodes, edges });

function run(p: DagPlanner, id: string, status: NodeStatus = 'SUCCEEDED', extra: { branch?: string; errorType?: string } = {}): Decision {
  p.markStarted(id);
  return p.settle(id, { status, ...extra });
}

const statusMap = (p: DagPlanner) => Object.fromEntries(p.statuses());

/** Two continuing upstream nodes `a`, `b` feeding `t` (with the trigger under test) and `t` feeding `after`. */
function join(trigger: NodeDef['trigger']) {
  const p = plan([n('a', { onError: 'continue' }), n('b', { onError: 'continue' }), n('t', { trigger }), n('after')], [e('a', 't'), e('b', 't'), e('t', 'after')]);
  p.start();
  return p;
}

describe('trigger rules (Airflow meanings)', () => {
  it('one_success runs as soon as one upstream succeeds, without waiting for the others', () => {
    const p = join('one_success');
    p.markStarted('b');
    expect(run(p, 'a')).toEqual({ ready: ['t'], skipped: [] });
    // b finishing later changes nothing for t.
    expect(p.settle('b', { status: 'FAILED' })).toEqual({ ready: [], skipped: [] });
  });

  it('one_success waits through failures and is SKIPPED once no upstream can succeed', () => {
    const p = join('one_success');
    expect(run(p, 'a', 'FAILED')).toEqual({ ready: [], skipped: [] });
    expect(p.status('t')).toBe('PENDING');
    expect(run(p, 'b', 'FAILED')).toEqual({ ready: [], skipped: ['t', 'after'] });
  });

  it('one_failed runs as soon as one upstream fails; SKIPPED when all succeed', () => {
    const p = join('one_failed');
    p.markStarted('b');
    expect(run(p, 'a', 'FAILED')).toEqual({ ready: ['t'], skipped: [] });
    const q = join('one_failed');
    expect(run(q, 'a')).toEqual({ ready: [], skipped: [] });
    expect(run(q, 'b')).toEqual({ ready: [], skipped: ['t', 'after'] });
  });

  it('all_failed runs only when every upstream failed (or was cancelled)', () => {
    const p = join('all_failed');
    run(p, 'a', 'FAILED');
    expect(run(p, 'b', 'CANCELLED')).toEqual({ ready: ['t'], skipped: [] });
    const q = join('all_failed');
    run(q, 'a', 'FAILED');
    expect(run(q, 'b')).toEqual({ ready: [], skipped: ['t', 'after'] });
  });

  it('none_skipped runs after successes and failures alike, but not after a skipped upstream', () => {
    const p = join('none_skipped');
    run(p, 'a', 'FAILED');
    expect(run(p, 'b')).toEqual({ ready: ['t'], skipped: [] });
    const q = plan(
      [cond('c'), n('x'), n('y'), n('t', { trigger: 'none_skipped' })],
      [e('c', 'x', { when: 'true' }), e('c', 'y', { when: 'false' }), e('x', 't'), e('y', 't')],
    );
    q.start();
    expect(run(q, 'c', 'SUCCEEDED', { branch: 'true' })).toEqual({ ready: ['x'], skipped: ['y'] });
    expect(run(q, 'x')).toEqual({ ready: [], skipped: ['t'] });
  });

  it('always runs once upstream is terminal, even behind untaken branches (all_done would skip)', () => {
    const build = (trigger: NodeDef['trigger']) => {
      const p = plan([cond('c'), n('t', { trigger })], [e('c', 't', { when: 'false' })]);
      p.start();
      return run(p, 'c', 'SUCCEEDED', { branch: 'true' });
    };
    expect(build('always')).toEqual({ ready: ['t'], skipped: [] });
    expect(build('all_done')).toEqual({ ready: [], skipped: ['t'] });
  });

  it('failure triggers and always still run while a fatal failure winds the run down', () => {
    const p = plan(
      [n('work'), n('next'), n('alert', { trigger: 'one_failed' }), n('all', { trigger: 'all_failed' }), n('fin', { trigger: 'always' }), n('ok', { trigger: 'one_success' })],
      [e('work', 'next'), e('work', 'alert'), e('work', 'all'), e('work', 'fin'), e('work', 'ok')],
    );
    p.start();
    expect(run(p, 'work', 'FAILED')).toEqual({ ready: ['alert', 'all', 'fin'], skipped: ['next', 'ok'] });
    expect(p.failedNode).toBe('work');
  });
});

describe('error edges filtered by type', () => {
  const build = () =>
    plan(
      [n('call'), n('backoff'), n('fallback'), n('next')],
      [e('call', 'backoff', { on: 'error', errors: ['RateLimited'] }), e('call', 'fallback', { on: 'error', errors: ['Upstream', 'Timeout'] }), e('call', 'next')],
    );

  it('takes only the edges naming the failure type; the node does not fail the run', () => {
    const p = build();
    p.start();
    expect(p.failsRun('call', 'RateLimited')).toBe(false);
    expect(run(p, 'call', 'FAILED', { errorType: 'RateLimited' })).toEqual({ ready: ['backoff'], skipped: ['fallback', 'next'] });
    expect(p.failedNode).toBeUndefined();
  });

  it('a failure no error edge matches follows onError: the run fails', () => {
    const p = build();
    p.start();
    expect(p.failsRun('call', 'HttpClientError')).toBe(true);
    expect(run(p, 'call', 'FAILED', { errorType: 'HttpClientError' })).toEqual({ ready: [], skipped: ['backoff', 'fallback', 'next'] });
    expect(p.failedNode).toBe('call');
    const q = plan([n('call', { onError: 'continue' }), n('h')], [e('call', 'h', { on: 'error', errors: ['X'] })]);
    q.start();
    run(q, 'call', 'FAILED', { errorType: 'Y' });
    expect(q.failedNode).toBeUndefined();
  });

  it('"*" takes every type', () => {
    const p = plan([n('call'), n('h')], [e('call', 'h', { on: 'error', errors: ['*'] })]);
    p.start();
    expect(run(p, 'call', 'FAILED', { errorType: 'Anything' })).toEqual({ ready: ['h'], skipped: [] });
  });
});

describe('stop (cancel / timeout as finally)', () => {
  it('cancels nodes not started, runs cleanup whose upstream is terminal, the rest once it is', () => {
    const p = plan(
      [n('lock'), n('wait'), n('work'), n('release', { trigger: 'all_done' }), n('notify'), n('fin', { trigger: 'always' })],
      [e('lock', 'wait'), e('wait', 'work'), e('work', 'release'), e('lock', 'release'), e('release', 'notify'), e('lock', 'fin')],
    );
    p.start();
    run(p, 'lock');
    p.markStarted('wait');
    // fin is decided ready but not started (e.g. held by the concurrency bound): it stays.
    const { cancelled, decision } = p.stop();
    expect(cancelled).toEqual(['work', 'notify']);
    // release's upstream (lock SUCCEEDED, work now CANCELLED) is terminal: it runs at once.
    expect(decision).toEqual({ ready: ['release'], skipped: [] });
    expect(statusMap(p)).toMatchObject({ wait: 'RUNNING', work: 'CANCELLED', release: 'PENDING', notify: 'CANCELLED', fin: 'PENDING' });
    expect(p.settle('wait', { status: 'CANCELLED' })).toEqual({ ready: [], skipped: [] });
    run(p, 'release');
    run(p, 'fin');
    expect(p.isComplete()).toBe(true);
  });

  it('runs an all_done node whose upstreams are all terminal at once', () => {
    const p = plan([n('a'), n('b'), n('cleanup', { trigger: 'all_done' })], [e('a', 'b'), e('b', 'cleanup')]);
    p.start();
    p.markStarted('a');
    const { cancelled, decision } = p.stop();
    expect(cancelled).toEqual(['b']);
    // cleanup's only upstream, b, is now CANCELLED: cleanup runs while a is still being cancelled.
    expect(decision).toEqual({ ready: ['cleanup'], skipped: [] });
    expect(p.settle('a', { status: 'CANCELLED' })).toEqual({ ready: [], skipped: [] });
  });

  it('a cleanup node behind cancelled nodes runs when the in-flight node settles', () => {
    const p = plan([n('a'), n('b'), n('cleanup', { trigger: 'all_done' })], [e('a', 'cleanup'), e('b', 'cleanup')]);
    p.start();
    p.markStarted('a');
    p.markStarted('b');
    expect(p.stop().cancelled).toEqual([]);
    expect(p.settle('a', { status: 'CANCELLED' })).toEqual({ ready: [], skipped: [] });
    expect(p.settle('b', { status: 'SUCCEEDED' })).toEqual({ ready: ['cleanup'], skipped: [] });
    run(p, 'cleanup');
    expect(p.isComplete()).toBe(true);
  });

  it('never starts a non-cleanup node after stop, even behind a cleanup node', () => {
    const p = plan([n('a'), n('cleanup', { trigger: 'all_done' }), n('after')], [e('a', 'cleanup'), e('cleanup', 'after')]);
    p.start();
    p.markStarted('a');
    expect(p.stop().cancelled).toEqual(['after']);
    expect(p.settle('a', { status: 'CANCELLED' })).toEqual({ ready: ['cleanup'], skipped: [] });
    expect(run(p, 'cleanup')).toEqual({ ready: [], skipped: [] });
    expect(statusMap(p)).toEqual({ a: 'CANCELLED', cleanup: 'SUCCEEDED', after: 'CANCELLED' });
  });
});
