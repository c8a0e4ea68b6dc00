import fs from 'node:fs/promises';
import path from 'node:path';
import { Keyring, generateKeyText, parseKey } from '../crypto/keyring';
import { MASTER_KEY_ENV, masterKeyring } from '../services/secrets';

/**
 * Development mode keeps its own master key for tenant secrets in its data directory (created
 * once, owner-only), so secrets set in one `trellis dev` session still decrypt in the next.
 * An explicit TRELLIS_MASTER_KEY wins. Sets the variable so everything in the process agrees.
 */
export async function ensureDevMasterKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<Keyring> {
  const configured = masterKeyring(env);
  if (configured) return configured;
  const file = path.join(dataDir, 'master.key');
  let text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) {
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    text = generateKeyText();
    // wx: two dev processes starting at once must not overwrite each other's key.
    await fs.writeFile(file, `${text}\n`, { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
      text = await fs.readFile(file, 'utf8');
    });
  }
  parseKey(text!, file); // a corrupted file is an error, not a silently new key
  env[MASTER_KEY_ENV] = text!.trim();
  return masterKeyring(env)!;
}
