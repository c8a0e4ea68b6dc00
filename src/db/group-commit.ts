/**
 * Group commit for a hot single-row statement: callers submit one item each; while `maxInFlight`
 * statements are already out, later items wait and leave together as one batch when a statement
 * returns. An idle process sends each item at once (no timer, no added latency); a busy one sends
 * fewer, bigger statements, so Postgres commits once for many rows and the driver and the kernel
 * pay one round trip for them.
 *
 * A batch is one statement, so one bad item (a unique violation, a value Postgres refuses) fails
 * it whole: then every item of that batch runs alone, so each caller gets its own answer and
 * nobody else's error.
 */
export interface GroupCommitOptions<T> {
  /** Statements out at once (default 2): one slow statement then holds back at most half the traffic. */
  maxInFlight?: number;
  /** Items per statement (default 100). */
  maxItems?: number;
  /** Rough size of an item, to bound a statement's parameters (default: none). */
  sizeOf?: (item: T) => number;
  /** Size per statement (default 4 MiB); an item over it still goes, alone. */
  maxSize?: number;
}

interface Pending<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T, R> {
  private readonly queue: Pending<T, R>[] = [];
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly maxItems: number;
  private readonly maxSize: number;

  /**
   * `many` answers a batch of two or more items in their order; `one` answers a single item
   * (a lone item, or each item of a failed batch).
   */
  constructor(
    private readonly many: (items: T[]) => Promise<R[]>,
    private readonly one: (item: T) => Promise<R>,
    private readonly options: GroupCommitOptions<T> = {},
  ) {
    this.maxInFlight = options.maxInFlight ?? 2;
    this.maxItems = options.maxItems ?? 100;
    this.maxSize = options.maxSize ?? 4 * 1024 * 1024;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.take();
      this.inFlight++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private take(): Pending<T, R>[] {
    const sizeOf = this.options.sizeOf;
    if (!sizeOf) return this.queue.splice(0, this.maxItems);
    let size = 0;
    let n = 0;
    while (n < this.queue.length && n < this.maxItems) {
      size += sizeOf(this.queue[n]!.item);
      if (n > 0 && size > this.maxSize) break;
      n++;
    }
    return this.queue.splice(0, n);
  }

  private async send(batch: Pending<T, R>[]): Promise<void> {
    if (batch.length === 1) return this.alone(batch[0]!);
    let results: R[];
    try {
      results = await this.many(batch.map((p) => p.item));
      if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} answered ${results.length} results`);
    } catch {
      // Which item failed is unknown: each runs alone and gets its own answer.
      await Promise.all(batch.map((p) => this.alone(p)));
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i]!));
  }

  private async alone(p: Pending<T, R>): Promise<void> {
    try {
      p.resolve(await this.one(p.item));
    } catch (err) {
      p.reject(err);
    }
  }
}
