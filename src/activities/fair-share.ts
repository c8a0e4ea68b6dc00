import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type { NodeActivityInput, NodeActivityResult } from '../contracts/node-activity';
import { NODE_HEARTBEAT_INTERVAL_MS } from '../domain/policy';
import { FairShareScheduler, defaultReserve, type FairShareLimits } from '../domain/fair-share';
import type { WaitingFor } from '../domain/flow-control';

/**
 * The worker's fair-share gate (DESIGN.md §8, last point): node attempts of every tenant pass it
 * before their node type runs, at most `capacity` at once, shared between the tenants that want
 * them (FairShareScheduler). Temporal 1.19 has no fairness of its own on a task queue, so the
 * worker asks the SDK for more activity slots than it will run nodes (the slots are cheap: a
 * waiting attempt is a promise) and decides here, in-process, whose attempt goes next.
 *
 * Only node activities pass it. The status mirror's writes, the engine's lookups and the
 * limiter's activities are wrapped by nothing, so they never wait behind node work.
 *
 * A waiting attempt heartbeats (a regular activity: so its heartbeat timeout does not fire and
 * the wait shows as `waitingFor: { kind: "tenantShare" }` in its heartbeat details) and gives up
 * its place at once when Temporal cancels it. The wait counts toward the node's startToClose
 * timeout, by design: the timeout bounds how long the node may take on a worker, queue included.
 */

type NodeActivity = (input: NodeActivityInput) => Promise<NodeActivityResult>;

interface Waiter {
  grant(): void;
}

export interface GateAdmission {
  /** Gives the slot back; idempotent. */
  release(): void;
  /** Whether the attempt had to wait for its turn. */
  waited: boolean;
}

export class FairShareGate {
  private readonly scheduler: FairShareScheduler<Waiter>;

  constructor(
    readonly name: string,
    limits: FairShareLimits,
  ) {
    this.scheduler = new FairShareScheduler(limits);
  }

  /** Attempts sent back to their runs so far (the worker's metrics count them by node type; this is the gate's own tally). */
  deferred = 0;

  get totals(): { held: number; waiting: number; tenants: number } {
    return this.scheduler.totals;
  }

  heldBy(tenant: string): number {
    return this.scheduler.heldBy(tenant);
  }

  /**
   * Waits for `tenant`'s turn. `whileWaiting` is called once if the attempt must wait (and the
   * returned function when the wait ends). Rejects with the signal's reason (a CancelledFailure)
   * when `signal` aborts first; the place in the queue is given up then.
   */
  async admit(tenant: string, signal: AbortSignal, whileWaiting?: () => () => void): Promise<GateAdmission>;
  /**
   * `deferrable`: an attempt that would wait while its tenant already has its backlog share
   * waiting (FairShareScheduler.backlogShare) leaves the line at once: undefined, nothing held.
   */
  async admit(tenant: string, signal: AbortSignal, whileWaiting: (() => () => void) | undefined, deferrable: boolean): Promise<GateAdmission | undefined>;
  async admit(tenant: string, signal: AbortSignal, whileWaiting?: () => () => void, deferrable = false): Promise<GateAdmission | undefined> {
    if (signal.aborted) throw cancelled(signal);
    let granted = false;
    let resolve!: () => void;
    const turn = new Promise<void>((r) => (resolve = r));
    const waiter: Waiter = {
      grant: () => {
        granted = true;
        resolve();
      },
    };
    this.wake(this.scheduler.enqueue(tenant, waiter));
    const admission = (waited: boolean): GateAdmission => {
      let released = false;
      return {
        waited,
        release: () => {
          if (released) return;
          released = true;
          this.wake(this.scheduler.release(tenant));
        },
      };
    };
    if (granted) return admission(false);
    if (deferrable && this.scheduler.waitingFor(tenant) > this.scheduler.backlogShare() && this.scheduler.withdraw(tenant, waiter)) {
      this.deferred++;
      return undefined;
    }
    const stopWaiting = whileWaiting?.();
    let onAbort: (() => void) | undefined;
    try {
      await new Promise<void>((done, fail) => {
        // Still queued: leave the queue. Already granted (same turn): the check below hands it back.
        onAbort = () => {
          if (this.scheduler.withdraw(tenant, waiter)) fail(cancelled(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        void turn.then(done);
      });
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
      stopWaiting?.();
    }
    const admitted = admission(true);
    if (signal.aborted) {
      admitted.release();
      throw cancelled(signal);
    }
    return admitted;
  }

  private wake(granted: Waiter[]): void {
    for (const waiter of granted) waiter.grant();
  }
}

function cancelled(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new CancelledFailure('cancelled while waiting for its tenant share');
}

export interface FairShareGates {
  /** Node attempts in mode "activity". */
  activity: FairShareGate;
  /** Node attempts in mode "local" (local activities: their own slots in the SDK). */
  local: FairShareGate;
}

/** A run without a tenant (tests, inline definitions) shares one bucket with the others like it. */
const NO_TENANT = '';

/** Every node activity, passing its gate first; the worker's own activities are not given here. */
export function withFairShare(gates: FairShareGates, activities: Record<string, NodeActivity>): Record<string, NodeActivity> {
  return Object.fromEntries(Object.entries(activities).map(([type, activity]) => [type, gatedActivity(gates, activity)]));
}

function gatedActivity(gates: FairShareGates, activity: NodeActivity): NodeActivity {
  return async (input) => {
    const ctx = Context.current();
    const gate = ctx.info.isLocal ? gates.local : gates.activity;
    const tenant = input.tenantId ?? NO_TENANT;
    const waitingFor: WaitingFor = { kind: 'tenantShare', key: tenant };
    // Only a first attempt is deferred: a retry's attempt count is Temporal's, and a new activity would restart it.
    const deferrable = input.deferrable === true && ctx.info.attempt === 1;
    const admission = await gate.admit(tenant, ctx.cancellationSignal, () => {
      // A local activity cannot heartbeat (nor be timed out by one); its cancellation arrives without.
      if (ctx.info.isLocal) return () => {};
      ctx.heartbeat({ waitingFor });
      const timer = setInterval(() => ctx.heartbeat({ waitingFor }), NODE_HEARTBEAT_INTERVAL_MS);
      return () => {
        clearInterval(timer);
        // Temporal keeps the last details until the next heartbeat: say at once the wait is over.
        ctx.heartbeat({ waitingFor: null });
      };
    }, deferrable);
    if (!admission) return { output: undefined, attempt: ctx.info.attempt, deferred: true };
    try {
      // Only the gate may say an attempt was deferred: a node type's own `deferred` is dropped.
      const { deferred: _claimed, ...result } = await activity(input);
      return result;
    } finally {
      admission.release();
    }
  };
}

/** The worker takes this many times its node capacity in activity tasks: the extra ones wait at the gate. */
export const SLOT_OVERSUBSCRIPTION = 4;
/**
 * Local-activity slots kept beyond the oversubscribed node slots for the worker's own local
 * activities (status mirror writes, limiter requests): they need a slot to run at all, and the
 * SDK hands slots out first come first served.
 */
export const BOOKKEEPING_LOCAL_SLOTS = 200;

export interface FairShareCapacity {
  activity: number;
  local: number;
  /** Undefined: defaultReserve of each capacity. */
  reserve?: number;
}

/** The two gates, and the SDK slot counts that let every waiting attempt reach them. */
export function fairShareWorker(capacity: FairShareCapacity): {
  gates: FairShareGates;
  options: { maxConcurrentActivityTaskExecutions: number; maxConcurrentLocalActivityExecutions: number };
} {
  const limits = (n: number): FairShareLimits => ({ capacity: n, reserve: Math.min(capacity.reserve ?? defaultReserve(n), n - 1) });
  return {
    gates: { activity: new FairShareGate('activity', limits(capacity.activity)), local: new FairShareGate('local', limits(capacity.local)) },
    options: {
      maxConcurrentActivityTaskExecutions: capacity.activity * SLOT_OVERSUBSCRIPTION,
      maxConcurrentLocalActivityExecutions: capacity.local * SLOT_OVERSUBSCRIPTION + BOOKKEEPING_LOCAL_SLOTS,
    },
  };
}
