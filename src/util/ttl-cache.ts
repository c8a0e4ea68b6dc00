/**
 * A small in-process cache whose entries live at most `ttlMs`. Concurrent misses for one key
 * share one lookup. Used for API-key lookups: every request needs one, and a key changes (is
 * revoked) rarely; revocations are pushed (`delete`), the TTL only bounds what a missed one costs.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly inFlight = new Map<string, Promise<V>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The live cached value, or undefined: lets a hot path skip the promise of `get` on a hit. */
  peek(key: string): { value: V } | undefined {
    const hit = this.entries.get(key);
    return hit && hit.expires > this.now() ? hit : undefined;
  }

  /**
   * The cached value, or the loaded one; `cache: false` loads (sharing a lookup in flight) and
   * stores nothing, for when invalidations may be missed (the revocation feed is down).
   */
  async get(key: string, load: () => Promise<V>, cache = true): Promise<V> {
    const hit = this.entries.get(key);
    const live = hit !== undefined && hit.expires > this.now();
    if (cache && live) return hit.value;
    if (hit && !live) this.entries.delete(key);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const loading: Promise<V> = load().then(
      (value) => {
        // Not ours any more when the key was dropped while loading: the value may predate the change.
        const current = this.inFlight.get(key) === loading;
        if (current) this.inFlight.delete(key);
        if (current && cache && this.ttlMs > 0) this.store(key, value);
        return value;
      },
      (err: unknown) => {
        if (this.inFlight.get(key) === loading) this.inFlight.delete(key);
        throw err;
      },
    );
    this.inFlight.set(key, loading);
    return loading;
  }

  /** Forgets one key (e.g. a revoked key); a lookup of it in flight is not stored either. */
  delete(key: string): void {
    this.entries.delete(key);
    this.inFlight.delete(key);
  }

  /** Forgets everything, lookups in flight included (invalidations may have been missed). */
  clear(): void {
    this.entries.clear();
    this.inFlight.clear();
  }

  private store(key: string, value: V): void {
    // Bounded: a flood of distinct (invalid) keys must not grow memory; the oldest entry goes first.
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
  }
}
