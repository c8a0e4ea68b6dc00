import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  patched,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { MAX_LIMIT } from '../domain/flow-control';
import { cancelSignal } from '../contracts/dag-workflow';
import { LIMITER_RESERVATION_PATCH, RUN_QUEUE_START_ORDER_PATCH } from '../contracts/patches';
import {
  MAX_DENIED_REMEMBERED,
  limitAcquireSignal,
  limitDecisionQuery,
  limitDeniedSignal,
  limitGrantedSignal,
  limitQueuedSignal,
  limitReleaseSignal,
  limiterStateQuery,
  type LimitRequest,
  type LimiterActivities,
  type LimiterHolder,
  type LimiterState,
} from '../contracts/limiter';
import { useRecordedSdkFlags } from './recorded-sdk-flags';

/**
 * One limiter per tenant + kind + key (DESIGN.md §5), in Temporal's mutex pattern: runs ask by
 * signal-with-start, the limiter answers by signal, first come first served. Being one workflow
 * it is exact with any number of workers and API replicas, and durable across worker crashes and
 * server restarts. A holder that ends without releasing (terminated, timed out) is found by
 * asking Temporal whether its run still runs once its lease (the node's heartbeat timeout) is up.
 * History stays bounded: continue-as-new carries the state over when Temporal suggests it, and
 * the limiter completes once idle.
 */

/** An idle limiter (nothing held, nothing queued) ends after this long without requests. */
export const LIMITER_IDLE_MS = 60_000;
/** Continue-as-new past this many events even if Temporal has not suggested it yet. */
const MAX_HISTORY_EVENTS = 5_000;

const { closedLimitHolders } = proxyLocalActivities<LimiterActivities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 5 },
});

export async function limiterWorkflow(state: LimiterState): Promise<void> {
  useRecordedSdkFlags();
  const { holders, queue } = state;
  let recent = state.recent;
  let denied = state.denied ?? [];
  let changed = true;
  const known = (id: string) => holders.some((h) => h.id === id) || queue.some((r) => r.id === id);
  /** Queued run requests already told they wait (in memory: telling one twice is harmless). */
  const toldQueued = new Set<string>();
  const countsHolders = state.kind !== 'rateLimit';

  setHandler(limitAcquireSignal, (request) => {
    changed = true;
    state.limit = request.limit;
    const held = holders.find((h) => h.id === request.id);
    if (held) {
      // The run a reservation was made for (by the API, before the run existed) takes its slot.
      if (isReservation(held.holder) && !isReservation(request.holder) && patched(LIMITER_RESERVATION_PATCH)) held.holder = request.holder;
      // Asked again (the asker re-sends when no answer came): answer again, count once.
      void grant(held.holder, held.id);
    } else if (!known(request.id)) admit(request);
  });
  setHandler(limitReleaseSignal, (id) => {
    changed = true;
    free(id);
  });
  setHandler(limiterStateQuery, () => ({
    tenantId: state.tenantId,
    kind: state.kind,
    key: state.key,
    ...(state.workflowId !== undefined && { workflowId: state.workflowId }),
    limit: state.limit,
    inFlight: countsHolders ? holders.length : recent.filter((t) => t > Date.now() - (queue[0]?.perMs ?? 0)).length,
    waiting: queue.length,
  }));
  setHandler(limitDecisionQuery, (id) =>
    holders.some((h) => h.id === id) ? 'granted' : queue.some((r) => r.id === id) ? 'waiting' : denied.includes(id) ? 'denied' : 'unknown',
  );

  /**
   * A new request joins the line, unless it is a run's with `onLimit` drop (no slot free now:
   * denied at once) or replace (the oldest holder is cancelled, as by POST /cancel, and the new
   * run takes its slot at the head of the line: latest wins).
   */
  function admit(request: LimitRequest): void {
    const full = holders.length >= request.limit || queue.length > 0;
    if (state.kind === 'run' && full && request.onLimit === 'drop') {
      if (request.reserved && patched(LIMITER_RESERVATION_PATCH)) {
        // No run to tell yet: the API reads the refusal with limitDecisionQuery.
        denied = [...denied, request.id].slice(-MAX_DENIED_REMEMBERED);
        return;
      }
      void tell(request.holder, limitDeniedSignal, request.id);
      return;
    }
    if (state.kind === 'run' && full && request.onLimit === 'replace') {
      if (holders.length >= request.limit) {
        const oldest = holders.shift()!;
        void getExternalWorkflowHandle(oldest.holder.workflowId, oldest.holder.runId)
          .signal(cancelSignal, { reason: 'replaced by a newer run (concurrency onLimit: replace)' })
          .catch(() => undefined); // a holder already gone frees its slot all the same
      }
      queue.unshift(request);
      return;
    }
    enqueue(request);
  }

  /**
   * Joins the line. A run's request that says when its run started goes before every waiting
   * run that started later (stable among equals), so queued runs go first come first served by
   * start, whatever order their first workflow tasks ran in. A `replace` run put at the head stays there.
   */
  function enqueue(request: LimitRequest): void {
    const startedAt = request.queuedAt;
    if (state.kind !== 'run' || startedAt === undefined || !patched(RUN_QUEUE_START_ORDER_PATCH)) {
      queue.push(request);
      return;
    }
    let at = queue.length;
    while (at > 0 && (queue[at - 1]!.queuedAt ?? -Infinity) > startedAt && queue[at - 1]!.onLimit !== 'replace') at--;
    queue.splice(at, 0, request);
  }

  async function tell(holder: LimitRequest['holder'], signal: typeof limitDeniedSignal, id: string): Promise<void> {
    try {
      await getExternalWorkflowHandle(holder.workflowId, holder.runId).signal(signal, id);
    } catch {
      // the asker is gone: nothing to tell
    }
  }

  function free(id: string): void {
    toldQueued.delete(id);
    const held = holders.findIndex((h) => h.id === id);
    if (held >= 0) holders.splice(held, 1);
    const waiting = queue.findIndex((r) => r.id === id);
    if (waiting >= 0) queue.splice(waiting, 1);
  }

  /** A holder that cannot be told (its run is gone) never held the slot. A reservation is told by query. */
  async function grant(holder: LimitRequest['holder'], id: string): Promise<void> {
    if (isReservation(holder) && patched(LIMITER_RESERVATION_PATCH)) return;
    try {
      await getExternalWorkflowHandle(holder.workflowId, holder.runId).signal(limitGrantedSignal, id);
    } catch {
      changed = true;
      free(id);
    }
  }

  /** Grants from the head of the queue while the head fits: strictly first come first served. */
  function grantWhatFits(now: number): void {
    while (queue.length > 0) {
      const head = queue[0]!;
      if (countsHolders) {
        if (holders.length >= head.limit) break;
        const leaseMs = head.leaseMs ?? 30_000;
        holders.push({ id: head.id, holder: head.holder, limit: head.limit, leaseMs, checkAt: now + leaseMs });
      } else {
        const perMs = head.perMs ?? 1_000;
        recent = recent.filter((t) => t > now - perMs);
        if (recent.length >= head.limit) break;
        recent.push(now);
        if (recent.length > MAX_LIMIT) recent = recent.slice(-MAX_LIMIT);
      }
      queue.shift();
      toldQueued.delete(head.id);
      void grant(head.holder, head.id);
    }
    if (state.kind !== 'run') return;
    for (const waiting of queue) {
      if (toldQueued.has(waiting.id)) continue;
      toldQueued.add(waiting.id);
      void tell(waiting.holder, limitQueuedSignal, waiting.id);
    }
  }

  /** How long until something can change without a signal: a lease check or the window opening. */
  function nextWakeMs(now: number): number | undefined {
    const times: number[] = holders.map((h) => h.checkAt);
    const head = queue[0];
    if (state.kind === 'rateLimit' && head && recent.length > 0) {
      const perMs = head.perMs ?? 1_000;
      const blocking = recent[Math.max(0, recent.length - head.limit)]!;
      times.push(blocking + perMs);
    }
    if (times.length === 0) return undefined;
    return Math.max(1, Math.min(...times) - now);
  }

  async function checkLeases(now: number): Promise<void> {
    const due = holders.filter((h) => h.checkAt <= now);
    if (due.length === 0) return;
    const closed = await closedLimitHolders(due.map((h) => h.holder));
    const gone = new Set(closed.map((h) => `${h.workflowId}\u0000${h.runId}`));
    for (const h of due) {
      if (gone.has(`${h.holder.workflowId}\u0000${h.holder.runId}`)) free(h.id);
      else (h as LimiterHolder).checkAt = Date.now() + h.leaseMs;
    }
    changed = true;
  }

  for (;;) {
    const now = Date.now();
    await checkLeases(now);
    grantWhatFits(Date.now());
    changed = false;
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > MAX_HISTORY_EVENTS) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof limiterWorkflow>({ ...state, holders, queue, recent, ...(denied.length > 0 && { denied }) });
    }
    const wake = nextWakeMs(Date.now());
    if (wake === undefined && holders.length === 0 && queue.length === 0) {
      // Idle: end after a quiet while (a request arriving as it completes starts a new one).
      if (!(await condition(() => changed, LIMITER_IDLE_MS))) {
        await condition(allHandlersFinished);
        return;
      }
      continue;
    }
    await condition(() => changed, wake);
  }
}

/** A slot asked for by the API for a run it has not started yet: the run id is not known. */
function isReservation(holder: LimitRequest['holder']): boolean {
  return holder.runId === '';
}
