import { describe, expect, it } from 'vitest';
import { PoolShare } from '../../src/activities/nodes/pg-pool-share';

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('PoolShare', () => {
  it('caps one tenant at its share and serves another tenant at once', async () => {
    const share = new PoolShare(4, 2);
    const a1 = await share.acquire('a');
    await share.acquire('a');
    let third = false;
    const a3 = share.acquire('a').then((release) => ((third = true), release));
    await settled();
    expect(third).toBe(false);
    expect(share.heldBy('a')).toBe(2);
    // b gets in although a queued first: a is at its share.
    const b1 = await share.acquire('b');
    expect(share.heldBy('b')).toBe(1);
    a1();
    expect(await a3).toBeTypeOf('function');
    expect(third).toBe(true);
    b1();
  });

  it('gives a freed slot to the waiting tenant holding the fewest, oldest first among equals', async () => {
    const fewest = new PoolShare(3, 2);
    const a0 = await fewest.acquire('a');
    await fewest.acquire('a');
    await fewest.acquire('b');
    const served: string[] = [];
    void fewest.acquire('b').then(() => served.push('b'));
    void fewest.acquire('c').then(() => served.push('c'));
    a0();
    await settled();
    // b queued first but holds one; c holds none, so c is served.
    expect(served).toEqual(['c']);

    const share = new PoolShare(2, 2);
    const a1 = await share.acquire('a');
    const a2 = await share.acquire('a');
    const order: string[] = [];
    const waitA = share.acquire('a').then((r) => (order.push('a'), r));
    const waitB = share.acquire('b').then((r) => (order.push('b'), r));
    const waitC = share.acquire('c').then((r) => (order.push('c'), r));
    a1();
    await settled();
    expect(order).toEqual(['b']);
    // a and c now both hold none: the older waiter, a's, goes first.
    a2();
    await settled();
    expect(order).toEqual(['b', 'a']);
    (await waitB)();
    await settled();
    expect(order).toEqual(['b', 'a', 'c']);
    (await waitC)();
    (await waitA)();
    expect(share.heldBy('a')).toBe(0);
    expect(share.queued).toBe(0);
  });

  it('a release is counted once, and an aborted waiter leaves the queue', async () => {
    const share = new PoolShare(1, 1);
    const release = await share.acquire('a');
    const controller = new AbortController();
    const waiting = share.acquire('b', controller.signal);
    expect(share.queued).toBe(1);
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    expect(share.queued).toBe(0);
    release();
    release();
    expect(share.heldBy('a')).toBe(0);
    const next = await share.acquire('c');
    let fourth = false;
    void share.acquire('d').then(() => (fourth = true));
    await settled();
    // Capacity 1: the double release did not make room for two.
    expect(fourth).toBe(false);
    next();
    await settled();
    expect(fourth).toBe(true);
  });
});
