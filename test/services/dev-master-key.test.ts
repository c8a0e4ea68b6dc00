import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureDevMasterKey } from '../../src/dev/master-key';
import { generateKeyText, parseKey } from '../../src/crypto/keyring';
import { masterKeyring } from '../../src/services/secrets';

const dirs: string[] = [];
const tempDir = async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-dev-key-'));
  dirs.push(dir);
  return path.join(dir, 'data');
};
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

describe('dev mode master key', () => {
  it('creates an owner-only key in the data directory once and reuses it', async () => {
    const dir = await tempDir();
    const first = await ensureDevMasterKey(dir, undefined);
    const stat = await fs.stat(path.join(dir, 'master.key'));
    expect(stat.mode & 0o777).toBe(0o600);
    // The text dev mode passes on as its TRELLIS_MASTER_KEY value.
    expect(first.text).toBe((await fs.readFile(path.join(dir, 'master.key'), 'utf8')).trim());
    const second = await ensureDevMasterKey(dir, undefined);
    expect(second.keyring.current.id).toBe(first.keyring.current.id);
  });

  it('prefers an explicit TRELLIS_MASTER_KEY and refuses a corrupted key file', async () => {
    const dir = await tempDir();
    const explicit = generateKeyText();
    const { keyring: ring, text } = await ensureDevMasterKey(dir, masterKeyring({ TRELLIS_MASTER_KEY: explicit }));
    expect(text).toBeUndefined();
    expect(ring.current.id).toBe(parseKey(explicit, '').id);
    await expect(fs.stat(path.join(dir, 'master.key'))).rejects.toThrow();
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'master.key'), 'not a key\n');
    await expect(ensureDevMasterKey(dir, undefined)).rejects.toThrow(/32 random bytes/);
  });
});
