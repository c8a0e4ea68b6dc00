import { hash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../db/client';
import { Prisma } from '../generated/prisma/client';
import { API_KEYS_CHANNEL } from '../mirror';

const KEY_PREFIX = 'trl_';

export function hashSecret(secret: string): string {
  // One-shot crypto.hash: no Hash object per request (this runs on every authenticated request).
  return hash('sha256', secret, 'hex');
}

/** A new random secret with a recognizable prefix (so leaked keys can be found by scanners). */
export function newSecret(prefix = KEY_PREFIX): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** Creates the tenant if needed and a new API key for it; the key is returned once, stored hashed. */
export async function createApiKey(db: Db, tenantName: string, keyName?: string): Promise<{ tenantId: string; key: string; keyId: string }> {
  const tenant = await db.tenant.upsert({
    where: { name: tenantName },
    create: { id: randomUUID(), name: tenantName },
    update: {},
  });
  const key = newSecret();
  const keyId = randomUUID();
  await db.apiKey.create({ data: { id: keyId, tenantId: tenant.id, name: keyName ?? null, keyHash: hashSecret(key) } });
  return { tenantId: tenant.id, key, keyId };
}

/** Who a request is: the key (its id and name) and the tenant it acts for, with that tenant's limits. */
export interface Principal {
  tenantId: string;
  keyId: string;
  keyName: string | null;
  /** The tenant's own requests-per-minute budget, when one is set. */
  rateLimitPerMinute: number | null;
}

/** The principal of a key, or undefined for an unknown or revoked key. */
export async function authenticate(db: Db, key: string): Promise<Principal | undefined> {
  if (!key.startsWith(KEY_PREFIX)) return undefined;
  const row = await db.apiKey.findUnique({
    where: { keyHash: hashSecret(key) },
    select: { id: true, name: true, tenantId: true, revokedAt: true, tenant: { select: { rateLimitPerMinute: true } } },
  });
  if (!row || row.revokedAt) return undefined;
  return { tenantId: row.tenantId, keyId: row.id, keyName: row.name, rateLimitPerMinute: row.tenant.rateLimitPerMinute };
}

/** The tenant a key belongs to, or undefined for an unknown or revoked key. */
export async function tenantForKey(db: Db, key: string): Promise<string | undefined> {
  return (await authenticate(db, key))?.tenantId;
}

export interface ApiKeyView {
  id: string;
  name: string | null;
  createdAt: string;
  revokedAt: string | null;
}

/** A tenant's keys (never their secrets), oldest first; undefined when the tenant does not exist. */
export async function listApiKeys(db: Db, tenantName: string): Promise<ApiKeyView[] | undefined> {
  const tenant = await db.tenant.findUnique({ where: { name: tenantName }, select: { id: true } });
  if (!tenant) return undefined;
  const rows = await db.apiKey.findMany({ where: { tenantId: tenant.id }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.createdAt.toISOString(), revokedAt: r.revokedAt?.toISOString() ?? null }));
}

/**
 * Revokes one of a tenant's keys; false when the tenant has no such key. The same statement
 * notifies every API process (API_KEYS_CHANNEL), which drops its cached lookup of the key on
 * commit: the key is refused from the next request on, on every replica.
 */
export async function revokeApiKey(db: Db, tenantName: string, keyId: string): Promise<boolean> {
  if (!/^[0-9a-f-]{36}$/i.test(keyId)) return false; // not a uuid: no such key (and no cast error)
  const rows = await db.$queryRaw<{ notified: string }[]>(Prisma.sql`
    WITH revoked AS (
      UPDATE api_keys SET revoked_at = now()
      WHERE id = ${keyId}::uuid AND revoked_at IS NULL AND tenant_id = (SELECT id FROM tenants WHERE name = ${tenantName})
      RETURNING key_hash
    )
    SELECT pg_notify(${API_KEYS_CHANNEL}, key_hash)::text AS notified FROM revoked`);
  return rows.length > 0;
}

/** Sets (or with null clears) a tenant's requests-per-minute budget; false when the tenant does not exist. */
export async function setTenantRateLimit(db: Db, tenantName: string, perMinute: number | null): Promise<boolean> {
  const { count } = await db.tenant.updateMany({ where: { name: tenantName }, data: { rateLimitPerMinute: perMinute } });
  return count > 0;
}
