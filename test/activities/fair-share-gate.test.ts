import { describe, expect, it } from 'vitest';
import { FairShareGate } from '../../src/activities/fair-share';

/*
 * The worker's gate offering deferral (issue 24 item 1): a deferrable attempt that would wait
 * while its tenant already has its backlog share queued leaves at once holding nothing, so it
 * gives its task slot back; any other attempt waits its turn as before.
 */

const never = new AbortController().signal;

describe('FairShareGate deferral', () => {
  it('defers a tenant\'s attempts past its backlog share, keeps the rest queued, and never defers an attempt that can run', async () => {
    const gate = new FairShareGate('activity', { capacity: 2, reserve: 0 });
    const held = [await gate.admit('a', never, undefined, true), await gate.admit('a', never, undefined, true)];
    expect(held.every((h) => h !== undefined)).toBe(true); // granted at once: never deferred
    // The capacity (2) is a lone tenant's backlog share: two wait, the third is sent back.
    const queued = [gate.admit('a', never, undefined, true), gate.admit('a', never, undefined, true)];
    expect(await gate.admit('a', never, undefined, true)).toBeUndefined();
    expect(gate.deferred).toBe(1);
    expect(gate.totals).toEqual({ held: 2, waiting: 2, tenants: 1 });
    // Without the offer (a retry, an old run) the attempt waits, whatever the backlog.
    const patient = gate.admit('a', never);
    expect(gate.totals.waiting).toBe(3);
    // Another tenant's attempt is queued, and the share is split: a's next deferrable one goes back.
    const other = gate.admit('b', never, undefined, true);
    expect(await gate.admit('a', never, undefined, true)).toBeUndefined();
    held[0]!.release();
    const first = await Promise.race([other.then(() => 'b'), ...queued.map((q) => q.then(() => 'a'))]);
    expect(first).toBe('b'); // the freed place goes to the tenant holding fewest
    held[1]!.release();
    (await other)!.release();
    for (const q of queued) (await q)!.release();
    (await patient).release();
    expect(gate.totals).toEqual({ held: 0, waiting: 0, tenants: 0 });
  });
});
