import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createApiKey } from '../../src/services/api-keys';
import { Keyring, generateKeyText, keyId, open, parseKey, seal } from '../../src/crypto/keyring';
import { assertSecretsReadable, masterKeyring, putSecret, readSecretValues, rotateMasterKey, secretSource } from '../../src/services/secrets';

describe('keyring', () => {
  it('parses base64 and hex keys of 32 bytes and names them by fingerprint', () => {
    const text = generateKeyText();
    const key = parseKey(text, 'K');
    expect(key.key.length).toBe(32);
    expect(parseKey(key.key.toString('hex'), 'K').id).toBe(key.id);
    expect(key.id).toBe(keyId(key.key));
    for (const bad of ['', 'short', Buffer.alloc(16).toString('base64'), `${text}!!`]) expect(() => parseKey(bad, 'K')).toThrow(/32 random bytes/);
  });

  it('seals with AES-256-GCM: another key, another AAD or a flipped bit do not open', () => {
    const a = parseKey(generateKeyText(), 'a').key;
    const b = parseKey(generateKeyText(), 'b').key;
    const sealed = seal(a, Buffer.from('hello'), 'where');
    expect(open(a, sealed, 'where').toString()).toBe('hello');
    expect(() => open(b, sealed, 'where')).toThrow();
    expect(() => open(a, sealed, 'elsewhere')).toThrow();
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1]! ^= 1;
    expect(() => open(a, flipped, 'where')).toThrow();
  });

  it('reads the current and previous keys from the environment', () => {
    const [k1, k2] = [generateKeyText(), generateKeyText()];
    expect(masterKeyring({})).toBeUndefined();
    const ring = masterKeyring({ TRELLIS_MASTER_KEY: k2, TRELLIS_PREVIOUS_MASTER_KEYS: ` ${k1} ,` })!;
    expect(ring.current.id).toBe(parseKey(k2, '').id);
    expect(ring.ids().sort()).toEqual([parseKey(k1, '').id, parseKey(k2, '').id].sort());
  });
});

describe('secret store', () => {
  let t: TestDatabase;
  let tenantId: string;
  beforeAll(async () => {
    t = await createTestDatabase();
    tenantId = (await createApiKey(t.db, 'acme')).tenantId;
  });
  afterAll(() => t?.drop());

  it('rotates the master key by re-wrapping data keys; old key no longer needed afterwards', async () => {
    const oldKey = generateKeyText();
    const newKey = generateKeyText();
    const before = masterKeyring({ TRELLIS_MASTER_KEY: oldKey })!;
    await putSecret(t.db, before, tenantId, 'A', 'value-a');
    await putSecret(t.db, before, tenantId, 'B', 'value-b');
    const { updatedAt } = await t.db.secret.findUniqueOrThrow({ where: { tenantId_name: { tenantId, name: 'A' } } });

    const during = masterKeyring({ TRELLIS_MASTER_KEY: newKey, TRELLIS_PREVIOUS_MASTER_KEYS: oldKey })!;
    await assertSecretsReadable(t.db, during, 'test');
    expect(await rotateMasterKey(t.db, during)).toEqual({ rewrapped: 2, current: 2 });
    expect(await rotateMasterKey(t.db, during)).toEqual({ rewrapped: 0, current: 2 });

    const after = masterKeyring({ TRELLIS_MASTER_KEY: newKey })!;
    await assertSecretsReadable(t.db, after, 'test');
    expect(await readSecretValues(t.db, after, tenantId, ['A', 'B', 'C'])).toEqual(new Map([['A', 'value-a'], ['B', 'value-b']]));
    const row = await t.db.secret.findUniqueOrThrow({ where: { tenantId_name: { tenantId, name: 'A' } } });
    expect(row.updatedAt).toEqual(updatedAt);
    expect(row.version).toBe(1);

    // The old key alone can no longer read them, and a process with it refuses to start.
    await expect(assertSecretsReadable(t.db, before, 'trellis worker')).rejects.toThrow(/not hold/);
  });

  it('refuses to start with secrets present and no master key, with a message that says what to set', async () => {
    await expect(assertSecretsReadable(t.db, undefined, 'trellis api')).rejects.toThrow(/trellis api: \d+ secret\(s\) are stored but TRELLIS_MASTER_KEY is not set/);
    await expect(secretSource(t.db, undefined).values(tenantId, ['A'])).rejects.toThrow(/TRELLIS_MASTER_KEY is not set/);
    expect(await secretSource(t.db, undefined).values(tenantId, ['NOPE'])).toEqual(new Map());
  });

  it('accepts an empty store without a master key', async () => {
    const empty = await createTestDatabase();
    try {
      await expect(assertSecretsReadable(empty.db, undefined, 'trellis api')).resolves.toBeUndefined();
    } finally {
      await empty.drop();
    }
  });

  it('rings decrypt with any held key', () => {
    const a = parseKey(generateKeyText(), 'a');
    const b = parseKey(generateKeyText(), 'b');
    const ring = new Keyring(b, [a]);
    expect(ring.get(a.id)).toBe(a);
    expect(ring.current).toBe(b);
  });
});
