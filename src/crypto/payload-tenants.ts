import type { SerializationContext } from '@temporalio/common';
import type { Db } from '../db/client';

/**
 * Which tenant a Temporal workflow's payloads belong to, for the payload codec (DESIGN.md §8:
 * the codec is per tenant). Every Trellis workflow id starts with its run's execution id: child
 * runs, map/loop children and map batches are `<parent id>.<suffix>`, so the part before the
 * first '.' is the root run, whose row in `executions` names the tenant. A scheduled run's id is
 * `ex_<schedule id>-<time>` (see scheduledRunIdPrefix), and the schedule's own action is encoded
 * under `ex_<schedule id>` before any run exists: those resolve through `schedules`.
 *
 * Lookups go, in order: the bounded in-process cache (fed by `remember` — the API knows the
 * tenant when it starts a run; a worker learns it when it decodes a tenant-bound payload of the
 * workflow — no I/O on a hit), then Postgres (once per root id; concurrent misses share the
 * query), then undefined: the caller seals for the platform scope, which no tenant's
 * /codec/decode opens (an operator's process still decodes it).
 */
export type TenantLookup = (rootExecutionId: string) => Promise<string | undefined>;

const SCHEDULED_RUN = /^ex_(sch_[A-Za-z0-9_-]{22})(?:-|$)/;
/** A root that resolved to nothing is asked again after this long (its row may not exist yet). */
const UNKNOWN_TTL_MS = 2_000;

/** The root run's execution id of a Trellis workflow id (the part before the first '.'). */
export function rootExecutionId(workflowId: string): string {
  const dot = workflowId.indexOf('.');
  return dot < 0 ? workflowId : workflowId.slice(0, dot);
}

/** The workflow a payload belongs to, from the codec's serialization context. */
export function contextWorkflowId(context: SerializationContext | undefined): string | undefined {
  return context?.workflowId || undefined;
}

export function databaseTenantLookup(db: Db): TenantLookup {
  return async (root) => {
    const execution = await db.execution.findUnique({ where: { id: root }, select: { tenantId: true } });
    if (execution) return execution.tenantId;
    const schedule = root.match(SCHEDULED_RUN)?.[1];
    if (!schedule) return undefined;
    return (await db.schedule.findUnique({ where: { id: schedule }, select: { tenantId: true } }))?.tenantId;
  };
}

export class PayloadTenants {
  private readonly known = new Map<string, string>();
  private readonly unknown = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<string | undefined>>();

  /** Where misses are looked up, newest first (a process has one database; tests may have several apps). */
  private readonly lookups: TenantLookup[] = [];

  constructor(
    lookup: TenantLookup | undefined = undefined,
    private readonly maxEntries = 50_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (lookup) this.lookups.push(lookup);
  }

  /**
   * Adds where cache misses are looked up; a process adds its database once it has it. The
   * returned function removes it again, for a closing app.
   */
  useLookup(lookup: TenantLookup): () => void {
    this.lookups.unshift(lookup);
    return () => {
      const i = this.lookups.indexOf(lookup);
      if (i >= 0) this.lookups.splice(i, 1);
    };
  }

  /** Records that `workflowId`'s run belongs to `tenantId` (a tenant never changes for a run). */
  remember(workflowId: string, tenantId: string): void {
    const root = rootExecutionId(workflowId);
    this.unknown.delete(root);
    if (this.known.get(root) === tenantId) return;
    this.known.delete(root);
    // Bounded: the oldest entry goes first (insertion order; a re-remembered entry moves last).
    if (this.known.size >= this.maxEntries) this.known.delete(this.known.keys().next().value!);
    this.known.set(root, tenantId);
  }

  /** The cached tenant of `workflowId` without I/O, or undefined. */
  peek(workflowId: string): string | undefined {
    return this.known.get(rootExecutionId(workflowId));
  }

  /** The tenant of `workflowId`'s run, or undefined when no one knows it. */
  async tenantOf(workflowId: string): Promise<string | undefined> {
    const root = rootExecutionId(workflowId);
    const hit = this.known.get(root);
    if (hit !== undefined) return hit;
    if (this.lookups.length === 0) return undefined;
    const unknownUntil = this.unknown.get(root);
    if (unknownUntil !== undefined && unknownUntil > this.now()) return undefined;
    const pending = this.inFlight.get(root);
    if (pending) return pending;
    const loading = this.lookUp(root).then(
      (tenantId) => {
        if (tenantId === undefined) {
          if (this.unknown.size >= this.maxEntries) this.unknown.delete(this.unknown.keys().next().value!);
          this.unknown.set(root, this.now() + UNKNOWN_TTL_MS);
        } else this.remember(root, tenantId);
        return tenantId;
      },
      // A failed lookup (the database away) seals for the platform scope, which leaks nothing;
      // it is not remembered, so the next payload asks again.
      () => undefined,
    )
      .finally(() => this.inFlight.delete(root));
    this.inFlight.set(root, loading);
    return loading;
  }

  private async lookUp(root: string): Promise<string | undefined> {
    let failure: unknown;
    for (const lookup of [...this.lookups]) {
      try {
        const tenantId = await lookup(root);
        if (tenantId !== undefined) return tenantId;
      } catch (err) {
        failure ??= err;
      }
    }
    // Not found anywhere, but a database did not answer: the caller must not remember "unknown".
    if (failure !== undefined) throw failure;
    return undefined;
  }
}

/**
 * The process's one map (API, worker, reconciler and CLI clients share it): a codec built by
 * `payloadCodec()` resolves through it, and the process points it at its database
 * (`PROCESS_PAYLOAD_TENANTS.useLookup(databaseTenantLookup(db))`).
 */
export const PROCESS_PAYLOAD_TENANTS = new PayloadTenants();
