import { quotaSettings } from '../config';
import type { Db } from './client';
import type { Prisma } from '../generated/prisma/client';
import { QuotaExceeded, type QuotaLimits, type QuotaName } from '../domain/quotas';

/** Prisma's client inside an interactive transaction. */
export type Tx = Prisma.TransactionClient;

let processLimits: QuotaLimits | undefined;

/**
 * The deployment's quotas, read from the environment once per process. The API and the worker
 * call this at start, so a bad `TRELLIS_QUOTA_<NAME>` stops them there (QuotaSettingInvalid).
 */
export function deploymentQuotas(): QuotaLimits {
  processLimits ??= quotaSettings();
  return processLimits;
}

/** The tenant's limit for `quota`: its own override, else the deployment's. */
export async function tenantQuotaLimit(db: Db | Tx, tenantId: string, quota: QuotaName, defaults: QuotaLimits = deploymentQuotas()): Promise<number> {
  const row = await db.tenantQuota.findUnique({ where: { tenantId_quota: { tenantId, quota } }, select: { limit: true } });
  return row ? Number(row.limit) : defaults[quota];
}

/** Bytes of node outputs the tenant has in output_blobs (STORED_BYTES). */
export async function storedBytesUsed(db: Db | Tx, tenantId: string): Promise<number> {
  const [row] = await db.$queryRaw<{ used: bigint }[]>`SELECT COALESCE(SUM(size_bytes), 0)::bigint AS used FROM output_blobs WHERE tenant_id = ${tenantId}::uuid`;
  return Number(row?.used ?? 0);
}

/** Interactive transactions here wait on each other's locks; Prisma's 2 s / 5 s defaults are too tight under a burst. */
const TX_OPTIONS = { maxWait: 10_000, timeout: 20_000 };

/**
 * Count and store in one transaction, serialized per tenant and quota by an advisory lock, so
 * concurrent requests at the edge admit exactly the limit: `store` runs only when `used(tx)`
 * plus `amount` stays within the limit; otherwise QuotaExceeded is thrown and nothing is written.
 * `needsRoom` (default: always) can say the request adds nothing (overwriting an existing secret).
 */
export async function withinQuota<T>(
  db: Db,
  options: {
    tenantId: string;
    quota: QuotaName;
    used: (tx: Tx) => Promise<number>;
    store: (tx: Tx) => Promise<T>;
    amount?: number;
    needsRoom?: (tx: Tx) => Promise<boolean>;
    defaults?: QuotaLimits;
  },
): Promise<T> {
  const { tenantId, quota, amount = 1 } = options;
  return db.$transaction(async (tx) => {
    // Two int4 keys: one space per quota, one lock per tenant in it (a hash collision only serializes two tenants).
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`trellis.quota.${quota}`}), hashtext(${tenantId}))`;
    if (!options.needsRoom || (await options.needsRoom(tx))) {
      const limit = await tenantQuotaLimit(tx, tenantId, quota, options.defaults);
      const used = await options.used(tx);
      if (used + amount > limit) throw new QuotaExceeded(quota, limit, used);
    }
    return options.store(tx);
  }, TX_OPTIONS);
}
