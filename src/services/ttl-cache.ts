/**
 * A small in-process cache whose entries live at most `ttlMs`. Concurrent misses for one key
 * share one lookup. Used for API-key lookups: every request needs one, and a key changes (is
 * revoked) rarely, so a short TTL trades a bounded revocation delay for a query per request.
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

  async get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > this.now()) return hit.value;
    if (hit) this.entries.delete(key);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const loading = load().then(
      (value) => {
        this.inFlight.delete(key);
        if (this.ttlMs > 0) this.store(key, value);
        return value;
      },
      (err: unknown) => {
        this.inFlight.delete(key);
        throw err;
      },
    );
    this.inFlight.set(key, loading);
    return loading;
  }

  /** Forgets one key (e.g. a key this process just revoked). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  private store(key: string, value: V): void {
    // Bounded: a flood of distinct (invalid) keys must not grow memory; the oldest entry goes first.
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
  }
}
