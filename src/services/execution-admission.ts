import type { Db } from '../db/client';
import { reserveRun, reviveStartFailedWithin, type RunReservation } from '../mirror';
import { maxRunningPerTenant } from '../persistence/definition-store';
import { limitReached, type ServiceError } from './errors';

/**
 * The per-tenant bound on runs in progress (TRELLIS_MAX_RUNNING_PER_TENANT), exact across API
 * replicas and workers: the count and the write that makes a run RUNNING happen in one Postgres
 * transaction under the tenant's advisory lock (src/mirror/run-admission.ts), on every path —
 * the API's starts and retries, webhooks, and (through the worker's loadDefinition activity)
 * runs Temporal starts itself: schedules, subworkflows, external clients. No process keeps a
 * count of its own, so there is nothing to drift or to race.
 */
export class ExecutionAdmission {
  /** TRELLIS_MAX_RUNNING_PER_TENANT, read once (the settings are not re-read on every start). */
  private readonly configuredMax = maxRunningPerTenant();

  constructor(
    readonly db: Db,
    private readonly options: { maxRunning?: () => number } = {},
  ) {}

  /** The cap that applies now. */
  limit(): number {
    return this.options.maxRunning ? this.options.maxRunning() : this.configuredMax;
  }

  /** A worker's run Temporal started: its row is reserved if the tenant has room (see reserveRun). */
  async reserve(run: RunReservation): Promise<{ admitted: true } | { admitted: false; running: number; limit: number }> {
    return reserveRun(this.db, run, this.limit());
  }

  /** Revives a start that never reached Temporal, or throws 429 TOO_MANY_RUNS; false when the row was not FAILED-at-start any more. */
  async revive(run: { id: string; tenantId: string }): Promise<boolean> {
    const outcome = await reviveStartFailedWithin(this.db, run, this.limit());
    if (!outcome.admitted) throw tooManyRuns(outcome.running, outcome.limit);
    return outcome.revived;
  }
}

/** 429 TOO_MANY_RUNS, naming the count and the limit. */
export function tooManyRuns(running: number, limit: number): ServiceError {
  return limitReached('TOO_MANY_RUNS', `${running} runs of this tenant are in progress; the limit is ${limit} (TRELLIS_MAX_RUNNING_PER_TENANT)`);
}
