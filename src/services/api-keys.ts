import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../db/client';

const KEY_PREFIX = 'trl_';

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A new random secret with a recognizable prefix (so leaked keys can be found by scanners). */
export function newSecret(prefix = KEY_PREFIX): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/** Creates the tenant if needed and a new API key for it; the key is returned once, stored hashed. */
export async function createApiKey(db: Db, tenantName: string, keyName?: string): Promise<{ tenantId: string; key: string }> {
  const tenant = await db.tenant.upsert({
    where: { name: tenantName },
    create: { id: randomUUID(), name: tenantName },
    update: {},
  });
  const key = newSecret();
  await db.apiKey.create({ data: { id: randomUUID(), tenantId: tenant.id, name: keyName ?? null, keyHash: hashSecret(key) } });
  return { tenantId: tenant.id, key };
}

/** The tenant a key belongs to, or undefined for an unknown or revoked key. */
export async function tenantForKey(db: Db, key: string): Promise<string | undefined> {
  if (!key.startsWith(KEY_PREFIX)) return undefined;
  const row = await db.apiKey.findUnique({ where: { keyHash: hashSecret(key) }, select: { tenantId: true, revokedAt: true } });
  return row && !row.revokedAt ? row.tenantId : undefined;
}
