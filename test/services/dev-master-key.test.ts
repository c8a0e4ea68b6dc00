import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureDevMasterKey } from '../../src/dev/master-key';
import { generateKeyText, parseKey } from '../../src/crypto/keyring';

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
    const env: NodeJS.ProcessEnv = {};
    const first = await ensureDevMasterKey(dir, env);
    const stat = await fs.stat(path.join(dir, 'master.key'));
    expect(stat.mode & 0o777).toBe(0o600);
    expect(env.TRELLIS_MASTER_KEY).toBeDefined();
    const second = await ensureDevMasterKey(dir, {});
    expect(second.current.id).toBe(first.current.id);
  });

  it('prefers an explicit TRELLIS_MASTER_KEY and refuses a corrupted key file', async () => {
    const dir = await tempDir();
    const explicit = generateKeyText();
    const ring = await ensureDevMasterKey(dir, { TRELLIS_MASTER_KEY: explicit });
    expect(ring.current.id).toBe(parseKey(explicit, '').id);
    await expect(fs.stat(path.join(dir, 'master.key'))).rejects.toThrow();
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'master.key'), 'not a key\n');
    await expect(ensureDevMasterKey(dir, {})).rejects.toThrow(/32 random bytes/);
  });
});
