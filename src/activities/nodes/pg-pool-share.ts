/**
 * Fair shares of one connection pool among tenants. A deployment connection
 * (`TRELLIS_PG_<NAME>_URL`) is one pool for every tenant allowed to use it; without shares one
 * tenant's slow queries took every client and another tenant's `select 1` timed out waiting for
 * one. Here a tenant holds at most `perTenant` clients at a time, and when a client comes free
 * it goes to the waiting tenant holding the fewest (oldest waiter first among equals), so a
 * tenant with nothing in flight is served next whatever the others queued.
 *
 * The share also keeps the total at the pool's size: queries wait here, where a cancelled
 * activity leaves the queue at once, and never in pg's own queue, whose connection timeout
 * would fail them while they are only waiting their turn.
 */
export class PoolShare {
  private total = 0;
  private readonly held = new Map<string, number>();
  private readonly waiting: Waiter[] = [];

  constructor(
    readonly capacity: number,
    readonly perTenant: number,
  ) {
    if (!(capacity >= 1 && perTenant >= 1)) throw new RangeError('a pool share needs a capacity and a per-tenant share of at least 1');
  }

  /** Resolves once `tenant` may take a client; call the returned function (once) to give it back. */
  acquire(tenant: string, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.waiting.length === 0 && this.fits(tenant)) return Promise.resolve(this.grant(tenant));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { tenant, resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          const at = this.waiting.indexOf(waiter);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiting.push(waiter);
      this.pump();
    });
  }

  /** Clients `tenant` holds now. */
  heldBy(tenant: string): number {
    return this.held.get(tenant) ?? 0;
  }

  get queued(): number {
    return this.waiting.length;
  }

  private fits(tenant: string): boolean {
    return this.total < this.capacity && this.heldBy(tenant) < this.perTenant;
  }

  private grant(tenant: string): () => void {
    this.total++;
    this.held.set(tenant, this.heldBy(tenant) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = this.heldBy(tenant) - 1;
      if (left === 0) this.held.delete(tenant);
      else this.held.set(tenant, left);
      this.pump();
    };
  }

  private pump(): void {
    while (this.total < this.capacity) {
      let best = -1;
      for (let i = 0; i < this.waiting.length; i++) {
        const w = this.waiting[i]!;
        if (!this.fits(w.tenant)) continue;
        if (best < 0 || this.heldBy(w.tenant) < this.heldBy(this.waiting[best]!.tenant)) best = i;
      }
      if (best < 0) return;
      const [next] = this.waiting.splice(best, 1);
      if (next!.onAbort) next!.signal?.removeEventListener('abort', next!.onAbort);
      next!.resolve(this.grant(next!.tenant));
    }
  }
}

interface Waiter {
  tenant: string;
  resolve: (release: () => void) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}
