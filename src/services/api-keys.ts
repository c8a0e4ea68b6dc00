import { hash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../db/client';

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

/** Revokes one of a tenant's keys; false when the tenant has no such key. Takes effect on the next request. */
export async function revokeApiKey(db: Db, tenantName: string, keyId: string): Promise<boolean> {
  const { count } = await db.apiKey.updateMany({
    where: { id: keyId, tenant: { name: tenantName }, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  return count > 0;
}

/** Sets (or with null clears) a tenant's requests-per-minute budget; false when the tenant does not exist. */
export async function setTenantRateLimit(db: Db, tenantName: string, perMinute: number | null): Promise<boolean> {
  const { count } = await db.tenant.updateMany({ where: { name: tenantName }, data: { rateLimitPerMinute: perMinute } });
  return count > 0;
}
