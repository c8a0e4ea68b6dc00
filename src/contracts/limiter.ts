import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { LimiterKind, OnLimit } from '../domain/flow-control';

/*
 * The limiter workflow (one per tenant + kind + key, see limiter-workflow.ts) and the runs that
 * ask it for slots talk through these signals. Declared apart so both sides import only this.
 */

export const LIMITER_WORKFLOW_TYPE = 'limiterWorkflow';

/** One request for a slot (concurrency) or a start (rateLimit): one per node attempt. */
export interface LimitRequest {
  /** Unique per attempt; a request sent again with the same id is not counted twice. */
  id: string;
  /** The asking workflow: granted by signal, checked for liveness while it holds a slot. */
  holder: { workflowId: string; runId: string };
  /** The asking node's own limit (two definitions may use one key with different limits). */
  limit: number;
  /** rateLimit: the sliding window's length. */
  perMs?: number;
  /** concurrency: how long a holder may go unchecked before the limiter asks Temporal whether it still runs. */
  leaseMs?: number;
  /** run: what to do when no slot is free now (queue by default). */
  onLimit?: OnLimit;
  /**
   * run (onLimit drop), asked by the API before the run exists (holder.runId is empty): the
   * answer is read with limitDecisionQuery instead of being signalled; the run, once started,
   * asks again with the same id and takes the slot held for it.
   */
  reserved?: boolean;
  /**
   * run: when the run was started (ms, its workflow start time). A run's request reaches the
   * limiter at its first workflow task, which under load may come after a later run's: the
   * line is kept in this order, so "first come" means first started, not first to ask.
   */
  queuedAt?: number;
}

export interface LimiterIdentity {
  tenantId?: string;
  kind: LimiterKind;
  key: string;
  /** run: the workflow whose runs share the key. */
  workflowId?: string;
}

export interface LimiterHolder {
  id: string;
  holder: LimitRequest['holder'];
  limit: number;
  leaseMs: number;
  /** Workflow time (ms) at which the holder is next checked. */
  checkAt: number;
}

/** What a limiter carries across continue-as-new. */
export interface LimiterState extends LimiterIdentity {
  holders: LimiterHolder[];
  queue: LimitRequest[];
  /** rateLimit: start times (ms) of recent grants, oldest first, at most MAX_LIMIT. */
  recent: number[];
  /** Highest limit and window seen lately, for GET /limits. */
  limit: number;
  /** Reserved requests refused lately (onLimit drop), newest last, at most MAX_DENIED_REMEMBERED. */
  denied?: string[];
}

/** How many refused reservations a limiter remembers for limitDecisionQuery (the API asks within seconds). */
export const MAX_DENIED_REMEMBERED = 256;

/** A request's fate as the limiter knows it now. */
export type LimitDecision = 'granted' | 'denied' | 'waiting' | 'unknown';

export interface LimiterSnapshot extends LimiterIdentity {
  limit: number;
  inFlight: number;
  waiting: number;
}

export const limitAcquireSignal = defineSignal<[LimitRequest]>('trellisLimitAcquire');
/** A holder is done with its slot, or a waiter gave up (cancelled): either way the id leaves. */
export const limitReleaseSignal = defineSignal<[string]>('trellisLimitRelease');
/** Sent by the limiter to the asking workflow: the request with this id may go. */
export const limitGrantedSignal = defineSignal<[string]>('trellisLimitGranted');
/** run (onLimit drop): no slot was free, the request is gone. */
export const limitDeniedSignal = defineSignal<[string]>('trellisLimitDenied');
/** run: the request waits in line (the run shows QUEUED until its grant). */
export const limitQueuedSignal = defineSignal<[string]>('trellisLimitQueued');
export const limiterStateQuery = defineQuery<LimiterSnapshot>('trellisLimiterState');
/** Where the request with this id stands (unknown: not seen yet, or released). */
export const limitDecisionQuery = defineQuery<LimitDecision, [string]>('trellisLimitDecision');

/** Activities the limiter and its clients need (signal-with-start is not a workflow API). */
export interface LimiterActivities {
  /** Signal-with-start of the limiter for this request (starts it if it does not run). */
  requestLimitSlot(input: { identity: LimiterIdentity; request: LimitRequest }): Promise<void>;
  /** Of these holders, the ones whose workflow run is no longer running (terminated, timed out, gone). */
  closedLimitHolders(holders: LimitRequest['holder'][]): Promise<LimitRequest['holder'][]>;
}
