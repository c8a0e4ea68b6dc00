import { setting, type SettingValues } from '../config';
import type { Db } from '../db/client';
import { notFound } from './errors';
import type { SecretSource } from '../activities/secrets';
import { Keyring, newDataKey, open, seal } from '../crypto/keyring';
import { quotaRefusal, quotaUsage, withinQuota } from './quotas';

/**
 * Tenant secrets, envelope-encrypted: each write seals the value under a fresh data key, and the
 * data key under the current master key (TRELLIS_MASTER_KEY), whose fingerprint is stored so the
 * master key can be rotated by re-wrapping data keys only. Values leave this module only towards
 * activities (SecretSource); the API sees names, versions and timestamps.
 */
export const MASTER_KEY_ENV = 'TRELLIS_MASTER_KEY';
export const PREVIOUS_MASTER_KEYS_ENV = 'TRELLIS_PREVIOUS_MASTER_KEYS';
/** A secret is a credential, not a data store. */
export const MAX_SECRET_BYTES = 64 * 1024;

export interface SecretSummary {
  name: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** The master key settings of a config (or a test's two values). */
export type MasterKeySettings = Partial<Pick<SettingValues, 'TRELLIS_MASTER_KEY' | 'TRELLIS_PREVIOUS_MASTER_KEYS'>>;

/** The master keys: of `settings` when given (the CLI's validated config, a test's), else of this process's settings. */
export function masterKeyring(settings?: MasterKeySettings): Keyring | undefined {
  if (settings) return Keyring.fromText(settings.TRELLIS_MASTER_KEY, settings.TRELLIS_PREVIOUS_MASTER_KEYS, MASTER_KEY_ENV);
  return Keyring.fromText(setting('TRELLIS_MASTER_KEY'), setting('TRELLIS_PREVIOUS_MASTER_KEYS'), MASTER_KEY_ENV);
}

export class MasterKeyMissing extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MasterKeyMissing';
  }
}

// The AAD ties a ciphertext to its tenant and name: a row copied elsewhere does not decrypt.
const valueAad = (tenantId: string, name: string) => `trellis-secret-value:${tenantId}:${name}`;
const keyAad = (tenantId: string, name: string) => `trellis-secret-key:${tenantId}:${name}`;

function sealValue(keyring: Keyring, tenantId: string, name: string, value: string) {
  const dataKey = newDataKey();
  try {
    return {
      ciphertext: seal(dataKey, Buffer.from(value, 'utf8'), valueAad(tenantId, name)).toString('base64'),
      wrappedKey: seal(keyring.current.key, dataKey, keyAad(tenantId, name)).toString('base64'),
      masterKeyId: keyring.current.id,
    };
  } finally {
    dataKey.fill(0);
  }
}

function unwrapDataKey(keyring: Keyring, row: { tenantId: string; name: string; wrappedKey: string; masterKeyId: string }): Buffer {
  const master = keyring.get(row.masterKeyId);
  if (!master) {
    throw new MasterKeyMissing(
      `secret "${row.name}" is wrapped by master key ${row.masterKeyId}, which is not configured (set it in ${MASTER_KEY_ENV} or ${PREVIOUS_MASTER_KEYS_ENV})`,
    );
  }
  return open(master.key, Buffer.from(row.wrappedKey, 'base64'), keyAad(row.tenantId, row.name));
}

/** Creates or replaces a secret; each write is a new version under a new data key. */
export async function putSecret(
  db: Db,
  keyring: Keyring,
  tenantId: string,
  name: string,
  value: string,
  options: { createOnly?: boolean } = {},
): Promise<SecretSummary> {
  const sealed = sealValue(keyring, tenantId, name, value);
  // Under the tenant's SECRETS lock; a new value for an existing name is no new secret.
  const row = await quotaRefusal(
    withinQuota(db, {
      tenantId,
      quota: 'SECRETS',
      needsRoom: async (tx) => (await tx.secret.count({ where: { tenantId, name } })) === 0,
      used: (tx) => quotaUsage.SECRETS(tx, tenantId),
      store: (tx) =>
        options.createOnly
          ? tx.secret.create({ data: { tenantId, name, ...sealed } })
          : tx.secret.upsert({
              where: { tenantId_name: { tenantId, name } },
              create: { tenantId, name, ...sealed },
              update: { ...sealed, version: { increment: 1 } },
            }),
    }),
  );
  return summary(row);
}

export async function listSecrets(db: Db, tenantId: string): Promise<SecretSummary[]> {
  const rows = await db.secret.findMany({ where: { tenantId }, orderBy: { name: 'asc' } });
  return rows.map(summary);
}

export async function secretNames(db: Db, tenantId: string): Promise<Set<string>> {
  const rows = await db.secret.findMany({ where: { tenantId }, select: { name: true } });
  return new Set(rows.map((r) => r.name));
}

export async function deleteSecret(db: Db, tenantId: string, name: string): Promise<void> {
  const { count } = await db.secret.deleteMany({ where: { tenantId, name } });
  if (count === 0) throw notFound(`secret ${name}`);
}

function summary(row: SecretSummary): SecretSummary {
  return { name: row.name, version: row.version, createdAt: row.createdAt, updatedAt: row.updatedAt };
}

/** Decrypted values of the tenant's named secrets (absent names are left out). */
export async function readSecretValues(db: Db, keyring: Keyring, tenantId: string, names: readonly string[]): Promise<Map<string, string>> {
  const rows = await db.secret.findMany({ where: { tenantId, name: { in: [...names] } } });
  const values = new Map<string, string>();
  for (const row of rows) {
    const dataKey = unwrapDataKey(keyring, row);
    try {
      values.set(row.name, open(dataKey, Buffer.from(row.ciphertext, 'base64'), valueAad(row.tenantId, row.name)).toString('utf8'));
    } finally {
      dataKey.fill(0);
    }
  }
  return values;
}

/** What the worker gives activities; without a master key no secret can be read. */
export function secretSource(db: Db, keyring: Keyring | undefined): SecretSource {
  return {
    async values(tenantId, names) {
      if (!keyring) {
        const exists = await db.secret.count({ where: { tenantId, name: { in: [...names] } } });
        if (exists > 0) throw new MasterKeyMissing(`${MASTER_KEY_ENV} is not set on the worker; secrets cannot be decrypted`);
        return new Map();
      }
      return readSecretValues(db, keyring, tenantId, names);
    },
  };
}

/**
 * Refuses to run a process that would hold secrets it cannot read: secrets stored and no master
 * key, or secrets wrapped by a master key the ring does not know.
 */
export async function assertSecretsReadable(db: Db, keyring: Keyring | undefined, process: string): Promise<void> {
  const byKey = await db.secret.groupBy({ by: ['masterKeyId'], _count: { _all: true } });
  const total = byKey.reduce((n, g) => n + g._count._all, 0);
  if (total === 0) return;
  if (!keyring) {
    throw new MasterKeyMissing(
      `${process}: ${total} secret(s) are stored but ${MASTER_KEY_ENV} is not set. Set it to the master key the secrets were written with (32 bytes, base64).`,
    );
  }
  const unknown = byKey.filter((g) => !keyring.get(g.masterKeyId)).map((g) => g.masterKeyId);
  if (unknown.length > 0) {
    throw new MasterKeyMissing(
      `${process}: secrets are wrapped by master key(s) ${unknown.join(', ')}, which ${MASTER_KEY_ENV} / ${PREVIOUS_MASTER_KEYS_ENV} do not hold (current key is ${keyring.current.id}).`,
    );
  }
}

/**
 * Re-wraps every data key not under the current master key. Values are not re-encrypted (their
 * data keys stay); afterwards the previous keys can be dropped from the environment.
 */
export async function rotateMasterKey(db: Db, keyring: Keyring): Promise<{ rewrapped: number; current: number }> {
  let rewrapped = 0;
  for (;;) {
    const rows = await db.secret.findMany({ where: { masterKeyId: { not: keyring.current.id } }, take: 100 });
    if (rows.length === 0) break;
    for (const row of rows) {
      const dataKey = unwrapDataKey(keyring, row);
      try {
        const wrappedKey = seal(keyring.current.key, dataKey, keyAad(row.tenantId, row.name)).toString('base64');
        // Only if nobody rewrote the secret meanwhile (a new write is already under the current key).
        const { count } = await db.secret.updateMany({
          where: { tenantId: row.tenantId, name: row.name, masterKeyId: row.masterKeyId, wrappedKey: row.wrappedKey },
          // Re-wrapping is not a new value: keep updatedAt as the API reports it.
          data: { wrappedKey, masterKeyId: keyring.current.id, updatedAt: row.updatedAt },
        });
        rewrapped += count;
      } finally {
        dataKey.fill(0);
      }
    }
  }
  const current = await db.secret.count({ where: { masterKeyId: keyring.current.id } });
  return { rewrapped, current };
}
