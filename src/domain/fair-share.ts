/*
 * Fair share of a worker's node capacity between tenants (DESIGN.md §8, last point; §5
 * `tenantShare`). Pure bookkeeping, no I/O, no timers: the worker's gate
 * (src/activities/fair-share.ts) owns the promises, cancellation and heartbeats around it.
 *
 * Rules, checked by test/domain/fair-share.test.ts:
 * - at most `capacity` grants are held at once;
 * - one tenant holds at most `capacity - reserve` of them: the reserve is what lets a tenant
 *   that arrives while another saturates the worker start its first nodes at once instead of
 *   after the first of the saturating tenant's nodes ends (nodes are never pre-empted, and a
 *   slow node may run for minutes);
 * - a free slot goes to the waiting tenant holding the fewest grants (ties: the one served
 *   least recently), so while tenants wait none is served above another's share, and the
 *   shares of busy tenants converge to capacity / busy tenants within one;
 * - within a tenant, first come first served;
 * - work-conserving: a slot never stays free while a tenant under its cap waits.
 */

export interface FairShareLimits {
  /** Grants held at once, all tenants together. */
  capacity: number;
  /** Grants one tenant can never take (kept for the next tenant to arrive); 0 lets a lone tenant take all. */
  reserve: number;
}

/** The default reserve: a tenth of the capacity, at least one once the capacity allows it. */
export function defaultReserve(capacity: number): number {
  return capacity < 2 ? 0 : Math.max(1, Math.floor(capacity / 10));
}

interface TenantState<W> {
  held: number;
  waiting: W[];
  /** When this tenant was last granted a slot (a counter, not a clock). */
  servedAt: number;
}

export class FairShareScheduler<W> {
  private readonly tenants = new Map<string, TenantState<W>>();
  private held = 0;
  private waitingCount = 0;
  private clock = 0;
  readonly perTenantCap: number;

  constructor(readonly limits: FairShareLimits) {
    if (!Number.isInteger(limits.capacity) || limits.capacity < 1) throw new RangeError('capacity must be an integer of at least 1');
    if (!Number.isInteger(limits.reserve) || limits.reserve < 0 || limits.reserve >= limits.capacity) throw new RangeError('reserve must be an integer from 0 to capacity - 1');
    this.perTenantCap = limits.capacity - limits.reserve;
  }

  /** Queues `waiter` for `tenant`; returns every waiter (of any tenant) granted a slot by it, in grant order. */
  enqueue(tenant: string, waiter: W): W[] {
    this.stateOf(tenant).waiting.push(waiter);
    this.waitingCount++;
    return this.dispatch();
  }

  /** Takes a waiter out of its queue (cancelled while waiting); false when it was not waiting. */
  withdraw(tenant: string, waiter: W): boolean {
    const state = this.tenants.get(tenant);
    const at = state ? state.waiting.indexOf(waiter) : -1;
    if (!state || at < 0) return false;
    state.waiting.splice(at, 1);
    this.waitingCount--;
    this.forgetIfIdle(tenant, state);
    return true;
  }

  /** Gives back one of `tenant`'s grants; returns the waiters granted the freed slot. */
  release(tenant: string): W[] {
    const state = this.tenants.get(tenant);
    if (!state || state.held === 0) throw new Error(`tenant "${tenant}" holds no fair-share slot`);
    state.held--;
    this.held--;
    this.forgetIfIdle(tenant, state);
    return this.dispatch();
  }

  heldBy(tenant: string): number {
    return this.tenants.get(tenant)?.held ?? 0;
  }

  waitingFor(tenant: string): number {
    return this.tenants.get(tenant)?.waiting.length ?? 0;
  }

  /**
   * How many of its attempts one tenant may keep waiting while others wait too: the capacity,
   * split between the tenants with attempts waiting (at least one each). An attempt past it is
   * better deferred to its run than waiting in one of the worker's task slots (see
   * activities/fair-share.ts): a lone tenant keeps a capacity's worth queued, enough to keep the
   * worker busy, and the rest of the slots stay free for tenants that have not arrived yet.
   */
  backlogShare(): number {
    let tenantsWaiting = 0;
    for (const state of this.tenants.values()) if (state.waiting.length > 0) tenantsWaiting++;
    return Math.max(1, Math.floor(this.limits.capacity / Math.max(1, tenantsWaiting)));
  }

  /** Totals, for metrics and tests. */
  get totals(): { held: number; waiting: number; tenants: number } {
    return { held: this.held, waiting: this.waitingCount, tenants: this.tenants.size };
  }

  private dispatch(): W[] {
    const granted: W[] = [];
    while (this.held < this.limits.capacity && this.waitingCount > 0) {
      let best: TenantState<W> | undefined;
      for (const state of this.tenants.values()) {
        if (state.waiting.length === 0 || state.held >= this.perTenantCap) continue;
        if (!best || state.held < best.held || (state.held === best.held && state.servedAt < best.servedAt)) best = state;
      }
      if (!best) break;
      best.held++;
      this.held++;
      best.servedAt = ++this.clock;
      this.waitingCount--;
      granted.push(best.waiting.shift()!);
    }
    return granted;
  }

  private stateOf(tenant: string): TenantState<W> {
    let state = this.tenants.get(tenant);
    if (!state) this.tenants.set(tenant, (state = { held: 0, waiting: [], servedAt: 0 }));
    return state;
  }

  /** Tenants with nothing held or waiting are dropped: the map stays as large as the active tenants. */
  private forgetIfIdle(tenant: string, state: TenantState<W>): void {
    if (state.held === 0 && state.waiting.length === 0) this.tenants.delete(tenant);
  }
}
