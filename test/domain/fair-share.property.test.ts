import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FairShareScheduler, defaultReserve } from '../../src/domain/fair-share';

/*
 * The fair-share scheduler under random arrivals, releases and withdrawals: the capacity and
 * the per-tenant cap always hold, a grant never goes to a tenant holding more than another
 * waiting one, it is work-conserving, FIFO per tenant, and nobody starves.
 */

interface Waiter {
  tenant: string;
  n: number;
}

type Op = { kind: 'arrive'; tenant: number } | { kind: 'release'; pick: number } | { kind: 'withdraw'; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('arrive' as const), tenant: fc.integer({ min: 0, max: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('withdraw' as const), pick: fc.nat() }) },
);

const scenarioArb = fc.record({
  capacity: fc.integer({ min: 1, max: 12 }),
  reserveFraction: fc.double({ min: 0, max: 0.99, noNaN: true }),
  ops: fc.array(opArb, { maxLength: 300 }),
});

/** Runs a scenario, checking every invariant at every step; returns what it saw. */
function simulate({ capacity, reserveFraction, ops }: { capacity: number; reserveFraction: number; ops: Op[] }) {
  const reserve = Math.floor(reserveFraction * capacity);
  const scheduler = new FairShareScheduler<Waiter>({ capacity, reserve });
  const cap = capacity - reserve;
  const held: Waiter[] = [];
  const waiting: Waiter[] = [];
  const grantedOrder = new Map<string, number[]>();
  const arrivedOrder = new Map<string, number[]>();
  let counter = 0;

  const heldCount = (tenant: string) => held.filter((w) => w.tenant === tenant).length;
  const onGranted = (granted: Waiter[]) => {
    for (const w of granted) {
      // Fairness of the choice: no other tenant that could have been served holds fewer.
      const mine = heldCount(w.tenant);
      for (const other of new Set(waiting.map((x) => x.tenant))) {
        if (other !== w.tenant && heldCount(other) < cap) expect(heldCount(other)).toBeGreaterThanOrEqual(mine);
      }
      waiting.splice(waiting.indexOf(w), 1);
      held.push(w);
      grantedOrder.set(w.tenant, [...(grantedOrder.get(w.tenant) ?? []), w.n]);
      expect(held.length).toBeLessThanOrEqual(capacity);
      expect(heldCount(w.tenant)).toBeLessThanOrEqual(cap);
    }
  };
  const checkConserving = () => {
    // Work-conserving: a free slot with an eligible waiter never stays free.
    if (held.length < capacity) for (const w of waiting) expect(heldCount(w.tenant)).toBe(cap);
    expect(scheduler.totals).toMatchObject({ held: held.length, waiting: waiting.length });
  };

  for (const op of ops) {
    if (op.kind === 'arrive') {
      const w = { tenant: `t${op.tenant}`, n: counter++ };
      arrivedOrder.set(w.tenant, [...(arrivedOrder.get(w.tenant) ?? []), w.n]);
      waiting.push(w);
      onGranted(scheduler.enqueue(w.tenant, w));
    } else if (op.kind === 'release' && held.length > 0) {
      const [w] = held.splice(op.pick % held.length, 1);
      onGranted(scheduler.release(w!.tenant));
    } else if (op.kind === 'withdraw' && waiting.length > 0) {
      const w = waiting[op.pick % waiting.length]!;
      expect(scheduler.withdraw(w.tenant, w)).toBe(true);
      waiting.splice(waiting.indexOf(w), 1);
      const arrived = arrivedOrder.get(w.tenant)!;
      arrived.splice(arrived.indexOf(w.n), 1);
    }
    checkConserving();
  }
  // No starvation: release everything held, again and again; every waiter is served.
  while (held.length > 0) {
    const w = held.shift()!;
    onGranted(scheduler.release(w.tenant));
    checkConserving();
  }
  expect(waiting).toEqual([]);
  expect(scheduler.totals).toEqual({ held: 0, waiting: 0, tenants: 0 });
  return { grantedOrder, arrivedOrder };
}

describe('FairShareScheduler', () => {
  it('holds capacity and per-tenant cap, serves the tenant holding fewest, conserves work, starves nobody, FIFO per tenant', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { grantedOrder, arrivedOrder } = simulate(scenario);
        for (const [tenant, arrived] of arrivedOrder) expect(grantedOrder.get(tenant) ?? []).toEqual(arrived);
      }),
      { numRuns: 300 },
    );
  });

  it('splits a saturated capacity evenly between busy tenants', () => {
    const s = new FairShareScheduler<number>({ capacity: 10, reserve: 1 });
    for (let i = 0; i < 50; i++) s.enqueue('a', i);
    expect(s.heldBy('a')).toBe(9); // the reserve stays free for the next tenant
    for (let i = 0; i < 50; i++) s.enqueue('b', i);
    expect(s.heldBy('b')).toBe(1); // the reserved place, at once
    for (let round = 0; round < 8; round++) s.release('a');
    expect([s.heldBy('a'), s.heldBy('b')]).toEqual([5, 5]);
  });

  it('lets a lone tenant take everything without a reserve', () => {
    const s = new FairShareScheduler<number>({ capacity: 4, reserve: 0 });
    const granted = [0, 1, 2, 3, 4].flatMap((i) => s.enqueue('a', i));
    expect(granted).toEqual([0, 1, 2, 3]);
    expect(s.release('a')).toEqual([4]);
  });

  it('refuses nonsense limits and releases it never granted', () => {
    expect(() => new FairShareScheduler({ capacity: 0, reserve: 0 })).toThrow(RangeError);
    expect(() => new FairShareScheduler({ capacity: 3, reserve: 3 })).toThrow(RangeError);
    expect(() => new FairShareScheduler({ capacity: 3, reserve: 0 }).release('x')).toThrow(/holds no fair-share slot/);
    expect([1, 2, 10, 100, 25_000].map(defaultReserve)).toEqual([0, 1, 1, 10, 2_500]);
  });

  it('splits the backlog share between the tenants that have attempts waiting', () => {
    const s = new FairShareScheduler<number>({ capacity: 6, reserve: 1 });
    expect(s.backlogShare()).toBe(6); // nobody waits: a tenant may keep a whole capacity queued
    for (let i = 0; i < 8; i++) s.enqueue('a', i); // 5 held, 3 waiting
    expect(s.backlogShare()).toBe(6);
    s.enqueue('b', 0); // the reserved place: held at once, b waits for nothing
    s.enqueue('b', 1);
    expect(s.backlogShare()).toBe(3);
    for (let i = 0; i < 6; i++) s.enqueue(`t${i}`, i);
    expect(s.backlogShare()).toBe(1); // never below one each
  });
});
