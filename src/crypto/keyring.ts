import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM keys named by their fingerprint, for the secret store's master keys and the
 * payload codec's keys. One key encrypts; every key in the ring decrypts, so a key is rotated
 * by adding the new one as current and keeping the old one as "previous" until nothing uses it.
 */
export interface NamedKey {
  /** First 16 hex digits of sha256(key): names the key in stored data without revealing it. */
  id: string;
  key: Buffer;
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class KeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyError';
  }
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** A new random key in the text form the environment variables take (base64 of 32 bytes). */
export function generateKeyText(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** Parses a key written as base64 or hex of 32 bytes; `what` names the setting in errors. */
export function parseKey(text: string, what: string): NamedKey {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES || (!/^[0-9a-fA-F]{64}$/.test(trimmed) && key.toString('base64').replace(/=+$/, '') !== trimmed.replace(/=+$/, ''))) {
    throw new KeyError(`${what} must be 32 random bytes as base64 or hex (generate one with: openssl rand -base64 32)`);
  }
  return { id: keyId(key), key };
}

export class Keyring {
  private readonly byId: Map<string, NamedKey>;

  constructor(
    readonly current: NamedKey,
    previous: readonly NamedKey[] = [],
  ) {
    this.byId = new Map([...previous, current].map((k) => [k.id, k]));
  }

  /** The ring from `<current>` and a comma-separated list of previous keys; undefined without a current key. */
  static fromText(current: string | undefined, previous: string | undefined, what: string): Keyring | undefined {
    if (!current?.trim()) return undefined;
    const old = (previous ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s, i) => parseKey(s, `${what} previous key #${i + 1}`));
    return new Keyring(parseKey(current, what), old);
  }

  get(id: string): NamedKey | undefined {
    return this.byId.get(id);
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }
}

/** iv | tag | ciphertext. `aad` binds the ciphertext to where it belongs (it cannot be moved). */
export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

export function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new KeyError('ciphertext is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new KeyError('ciphertext does not authenticate (wrong key, or the data was altered or moved)');
  }
}

export function newDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}
