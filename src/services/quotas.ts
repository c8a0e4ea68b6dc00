import type { Db } from '../db/client';
import { deploymentQuotas, storedBytesUsed, tenantQuotaLimit, withinQuota, type Tx } from '../db/quotas';
import { QUOTA_NAMES, QuotaExceeded, type QuotaLimits, type QuotaName } from '../domain/quotas';
import { quotaExceeded } from './errors';

export { deploymentQuotas, tenantQuotaLimit, withinQuota, type Tx };

/** Runs `work`, turning a QuotaExceeded into the service refusal the API answers 429 with. */
export async function quotaRefusal<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof QuotaExceeded) throw quotaExceeded(err.quota, err.limit, err.used);
    throw err;
  }
}

/** What each stored quota counts (STREAMS is counted in memory by each API process: OpenStreams). */
export const quotaUsage = {
  WORKFLOWS: (tx: Tx | Db, tenantId: string) => tx.workflow.count({ where: { tenantId } }),
  SCHEDULES: (tx: Tx | Db, tenantId: string) => tx.schedule.count({ where: { tenantId } }),
  SECRETS: (tx: Tx | Db, tenantId: string) => tx.secret.count({ where: { tenantId } }),
  /** The tenant's fullest workflow: VERSIONS is a limit per workflow. */
  VERSIONS: async (tx: Tx | Db, tenantId: string) =>
    (await tx.workflow.aggregate({ where: { tenantId }, _max: { latestVersion: true } }))._max.latestVersion ?? 0,
  STORED_BYTES: storedBytesUsed,
} satisfies Record<Exclude<QuotaName, 'STREAMS'>, (tx: Tx | Db, tenantId: string) => Promise<number>>;

export interface QuotaReportLine {
  quota: QuotaName;
  limit: number;
  /** where the limit comes from: the tenant's own override or the deployment's (TRELLIS_QUOTA_<quota> or the default) */
  source: 'tenant' | 'deployment';
  /** null for STREAMS, which each API process counts for itself */
  used: number | null;
}

/** The tenant's effective quotas and what it uses of each; undefined when there is no such tenant. */
export async function tenantQuotaReport(db: Db, tenantName: string, defaults: QuotaLimits = deploymentQuotas()): Promise<QuotaReportLine[] | undefined> {
  const tenant = await db.tenant.findUnique({ where: { name: tenantName }, select: { id: true, quotas: true } });
  if (!tenant) return undefined;
  const own = new Map(tenant.quotas.map((q) => [q.quota, Number(q.limit)]));
  return Promise.all(
    QUOTA_NAMES.map(async (quota) => ({
      quota,
      limit: own.get(quota) ?? defaults[quota],
      source: own.has(quota) ? ('tenant' as const) : ('deployment' as const),
      used: quota === 'STREAMS' ? null : await quotaUsage[quota](db, tenant.id),
    })),
  );
}

/**
 * Sets (a number) or clears (null: back to the deployment's limit) a tenant's own limits; false
 * when there is no such tenant. Lowering a limit below what the tenant holds deletes nothing: it
 * only refuses the next new thing.
 */
export async function setTenantQuotas(db: Db, tenantName: string, limits: Partial<Record<QuotaName, number | null>>): Promise<boolean> {
  const tenant = await db.tenant.findUnique({ where: { name: tenantName }, select: { id: true } });
  if (!tenant) return false;
  await db.$transaction(
    Object.entries(limits).map(([quota, limit]) =>
      limit === null || limit === undefined
        ? db.tenantQuota.deleteMany({ where: { tenantId: tenant.id, quota } })
        : db.tenantQuota.upsert({
            where: { tenantId_quota: { tenantId: tenant.id, quota } },
            create: { tenantId: tenant.id, quota, limit: BigInt(limit) },
            update: { limit: BigInt(limit) },
          }),
    ),
  );
  return true;
}

/**
 * The STREAMS quota: event streams each tenant has open on this process. Per process, like
 * the streams themselves: with N API replicas a tenant can hold up to N times its limit.
 */
export class OpenStreams {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly defaults: QuotaLimits = deploymentQuotas(),
  ) {}

  /** Counts one more stream for the tenant, or refuses (429 QUOTA_EXCEEDED); call the returned function once when it closes. */
  async acquire(tenantId: string): Promise<() => void> {
    const limit = await tenantQuotaLimit(this.db, tenantId, 'STREAMS', this.defaults);
    // Read and counted in one synchronous step after the await: two opens cannot both take the last place.
    const used = this.open.get(tenantId) ?? 0;
    if (used + 1 > limit) throw quotaExceeded('STREAMS', limit, used);
    this.open.set(tenantId, used + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(tenantId) ?? 1) - 1;
      if (left > 0) this.open.set(tenantId, left);
      else this.open.delete(tenantId);
    };
  }

  /** Streams the tenant has open on this process. */
  count(tenantId: string): number {
    return this.open.get(tenantId) ?? 0;
  }
}
