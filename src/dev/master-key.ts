import fs from 'node:fs/promises';
import path from 'node:path';
import { Keyring, generateKeyText, parseKey } from '../crypto/keyring';
import { masterKeyring } from '../services/secrets';

/**
 * Development mode keeps its own master key for tenant secrets in its data directory (created
 * once, owner-only), so secrets set in one `trellis dev` session still decrypt in the next.
 * An explicit TRELLIS_MASTER_KEY wins. Returns the key text too: dev mode passes it on as the
 * TRELLIS_MASTER_KEY value of its config, so everything in the process agrees.
 */
export async function ensureDevMasterKey(dataDir: string, configured: Keyring | undefined = masterKeyring()): Promise<{ keyring: Keyring; text?: string }> {
  if (configured) return { keyring: configured };
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
  const key = text!.trim();
  return { keyring: masterKeyring({ TRELLIS_MASTER_KEY: key })!, text: key };
}
