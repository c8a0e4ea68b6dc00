import { limitReached } from './errors';
import { maxRunningPerTenant } from '../persistence/definition-store';

/** How long a tenant's counted RUNNING rows are trusted while the tenant is far from its limit. */
export const RUN_COUNT_REFRESH_MS = 1_000;

/** Within this fraction of the limit, every start counts the tenant's runs in Postgres again. */
export const EXACT_COUNT_FRACTION = 0.9;

/** One admitted start: say whether its RUNNING row was written, or give the slot back. */
export interface AdmissionTicket {
  /** The run's RUNNING row is committed: a count from now on sees it. */
  written(): void;
  /** No RUNNING row remains for this start (not created, or marked FAILED): the slot is free again. */
  release(): void;
}

interface TenantCount {
  /** The tenant's RUNNING rows in Postgres at the last count, leaving out this process's unwritten ones. */
  counted: number;
  countedAt: number;
  /** Of `admitted`, those whose row was committed before that count started (so it saw them). */
  seen: number;
  /** Starts this process admitted and did not release. */
  admitted: number;
  /** Of those, the runs whose row may not be committed yet (every count leaves them out). */
  unwritten: Set<string>;
  refreshing?: Promise<void>;
}

/**
 * Bounds a tenant's runs in progress (TRELLIS_MAX_RUNNING_PER_TENANT) without a COUNT per
 * start. Counting RUNNING rows costs a query that grows with the tenant's running runs, on the
 * API's hottest path; here a count is reused for `refreshMs` and this process's own starts
 * since are added to it, so one process alone never goes over the limit. Runs that finished
 * meanwhile still count (never a wrong 429: near the limit every start counts afresh).
 *
 * Bound with several API processes: a process does not see the others' starts until its next
 * count lands (at most `refreshMs` plus one count old: far from the limit, starts go on with the
 * last count while the next one runs). Once its estimate is within 10% of the limit it counts on
 * every start, so a tenant goes over its limit only if its other API processes start more than
 * a tenth of the limit within that time (100 runs in about a second at the default 1,000),
 * and then by at most the runs started through the API in that time. The API's per-key rate limits
 * (600 writes a minute by default) keep that far away in practice.
 */
export class ExecutionAdmission {
  private readonly tenants = new Map<string, TenantCount>();

  /** TRELLIS_MAX_RUNNING_PER_TENANT, read once (the environment is slow to read on every start). */
  private readonly configuredMax = maxRunningPerTenant();

  constructor(
    /** RUNNING rows of the tenant in Postgres, not counting the runs named in `excluding`. */
    private readonly countRunning: (tenantId: string, excluding: string[]) => Promise<number>,
    private readonly options: { refreshMs?: number; maxRunning?: () => number; now?: () => number } = {},
  ) {}

  /** Reserves a slot for the new run `runId` of the tenant, or throws 429 TOO_MANY_RUNS. */
  async admit(tenantId: string, runId: string): Promise<AdmissionTicket> {
    const max = this.options.maxRunning ? this.options.maxRunning() : this.configuredMax;
    let state = this.tenants.get(tenantId);
    if (!state || estimate(state) + 1 > max * EXACT_COUNT_FRACTION) {
      state = await this.count(tenantId);
    } else if (this.stale(state)) {
      // Far from the limit, the last count stands while the next one runs: a count grows with the
      // tenant's running runs (tens of ms with thousands), and every start waiting for it stalled.
      // A failed count is tried again by the next start.
      this.count(tenantId).catch(() => {});
    }
    // Synchronous from here: concurrent starts of this process check and reserve one at a time.
    const running = estimate(state);
    if (running + 1 > max) {
      throw limitReached('TOO_MANY_RUNS', `${running} runs of this tenant are in progress; the limit is ${max} (TRELLIS_MAX_RUNNING_PER_TENANT)`);
    }
    const admitted = state;
    admitted.admitted++;
    admitted.unwritten.add(runId);
    let released = false;
    return {
      written() {
        admitted.unwritten.delete(runId);
      },
      release() {
        if (released) return;
        released = true;
        admitted.admitted--;
        if (!admitted.unwritten.delete(runId)) {
          // Its row existed: whether the last count saw it RUNNING is unknown, so it keeps
          // counting until the next count (an over-estimate, never an under-estimate).
          admitted.seen--;
        }
        // Else no row was ever written (or every count left it out): it only counted here.
      },
    };
  }

  private stale(state: TenantCount): boolean {
    return this.now() - state.countedAt >= (this.options.refreshMs ?? RUN_COUNT_REFRESH_MS);
  }

  /** Counts the tenant's RUNNING rows; concurrent starts share one query. */
  private async count(tenantId: string): Promise<TenantCount> {
    let state = this.tenants.get(tenantId);
    if (!state) {
      state = { counted: 0, countedAt: -Infinity, seen: 0, admitted: 0, unwritten: new Set() };
      this.tenants.set(tenantId, state);
    }
    const target = state;
    target.refreshing ??= (async () => {
      // Rows committed before the query are in its result, except the unwritten runs it leaves
      // out (their inserts may commit while it runs): those count here, once.
      const excluding = [...target.unwritten];
      const seen = target.admitted - excluding.length;
      const startedAt = this.now();
      try {
        target.counted = await this.countRunning(tenantId, excluding);
        target.seen = seen;
        target.countedAt = startedAt;
      } finally {
        target.refreshing = undefined;
      }
    })();
    await target.refreshing;
    return target;
  }

  private now(): number {
    return this.options.now ? this.options.now() : performance.now();
  }
}

/** RUNNING rows counted, plus this process's admitted starts that count did not see. */
function estimate(state: TenantCount): number {
  return state.counted + state.admitted - state.seen;
}
