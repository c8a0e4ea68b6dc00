import type { Client } from '@temporalio/client';
import { limiterWorkflowId, tenantLimiterPrefix } from '../domain/flow-control';
import {
  LIMITER_WORKFLOW_TYPE,
  limitAcquireSignal,
  limitDecisionQuery,
  limitReleaseSignal,
  limiterStateQuery,
  type LimitDecision,
  type LimiterIdentity,
  type LimiterSnapshot,
  type LimiterState,
} from '../contracts/limiter';

/** GET /limits lists at most this many of a tenant's live limiters (each answers one query). */
export const MAX_LISTED_LIMITERS = 200;
/** Queries in flight at once while listing. */
const QUERY_CONCURRENCY = 16;
/** How long a reservation waits for the limiter's decision before the start is given up (503). */
export const RESERVATION_DECISION_MS = 10_000;

/** A run slot the API asks for before it starts the run (run-level concurrency, onLimit drop). */
export interface RunSlotReservation {
  identity: LimiterIdentity & { kind: 'run' };
  /** The reservation's id: the run asks with it and takes the slot held for it. */
  id: string;
  /** The execution id the run will have (its Temporal workflow id). */
  executionId: string;
  limit: number;
  leaseMs: number;
}

export interface LimiterMethods {
  /** The tenant's running limiters (never another tenant's: listed by the tenant's id prefix and checked again). */
  listLimiters(tenantId: string): Promise<LimiterSnapshot[]>;
  /**
   * Asks the key's limiter for a run slot now (onLimit drop: granted, or denied when none is free).
   * Exact across API replicas: the one limiter workflow decides, in the order the asks arrive.
   */
  reserveRunSlot(reservation: RunSlotReservation): Promise<'granted' | 'denied'>;
  /** Gives a reserved slot back (its run was not started after all). */
  releaseRunSlot(reservation: Pick<RunSlotReservation, 'identity' | 'id'>): Promise<void>;
}

export function createLimiterMethods(client: Client, taskQueue?: string): LimiterMethods {
  return {
    async reserveRunSlot({ identity, id, executionId, limit, leaseMs }) {
      if (taskQueue === undefined) throw new Error('reserveRunSlot needs the task queue the limiters run on');
      const workflowId = limiterWorkflowId(identity.tenantId, identity.kind, identity.key, identity.workflowId);
      const initial: LimiterState = { ...identity, holders: [], queue: [], recent: [], limit };
      // An empty run id marks the holder as not started yet (the limiter answers by query, not signal).
      const request = { id, holder: { workflowId: executionId, runId: '' }, limit, leaseMs, onLimit: 'drop' as const, reserved: true };
      await client.workflow.signalWithStart(LIMITER_WORKFLOW_TYPE, { workflowId, taskQueue, args: [initial], signal: limitAcquireSignal, signalArgs: [request] });
      const handle = client.workflow.getHandle(workflowId);
      const until = Date.now() + RESERVATION_DECISION_MS;
      for (let pause = 5; ; pause = Math.min(pause * 2, 200)) {
        // The query sees the signal once a workflow task has taken it; until then it says unknown.
        const decision: LimitDecision = await handle.query(limitDecisionQuery, id);
        if (decision === 'granted' || decision === 'denied') return decision;
        if (Date.now() > until) throw new Error(`the limiter for key "${identity.key}" did not decide within ${RESERVATION_DECISION_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    },

    async releaseRunSlot({ identity, id }) {
      await client.workflow.getHandle(limiterWorkflowId(identity.tenantId, identity.kind, identity.key, identity.workflowId)).signal(limitReleaseSignal, id);
    },

    async listLimiters(tenantId) {
      const prefix = tenantLimiterPrefix(tenantId);
      const ids = await runningLimiterIds(client, prefix);
      const snapshots: LimiterSnapshot[] = [];
      for (let i = 0; i < ids.length; i += QUERY_CONCURRENCY) {
        const answers = await Promise.all(
          ids.slice(i, i + QUERY_CONCURRENCY).map((id) => client.workflow.getHandle(id).query(limiterStateQuery).catch(() => undefined)),
        );
        // A limiter that ended between the listing and its query holds nothing: left out.
        for (const s of answers) if (s && s.tenantId === tenantId) snapshots.push(s);
      }
      return snapshots;
    },
  };
}

/** Visibility holds every limiter's id; the prefix narrows the listing to one tenant's. */
async function runningLimiterIds(client: Client, prefix: string): Promise<string[]> {
  // The prefix is built from an encoded tenant id: no quote can reach the query.
  const type = `WorkflowType = '${LIMITER_WORKFLOW_TYPE}'`;
  try {
    return await collect(client, `${type} AND ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH '${prefix}'`, () => true);
  } catch {
    // Visibility stores without STARTS_WITH or with one filter only (the dev server's SQLite):
    // list the limiters, keep the tenant's running ones.
    return collect(client, type, (id, running) => running && id.startsWith(prefix));
  }
}

async function collect(client: Client, query: string, keep: (id: string, running: boolean) => boolean): Promise<string[]> {
  const ids: string[] = [];
  let seen = 0;
  for await (const execution of client.workflow.list({ query })) {
    if (++seen > MAX_LISTED_LIMITERS * 20) break; // the fallback scan stays bounded too
    if (!keep(execution.workflowId, execution.status.name === 'RUNNING')) continue;
    ids.push(execution.workflowId);
    if (ids.length >= MAX_LISTED_LIMITERS) break;
  }
  return ids;
}
