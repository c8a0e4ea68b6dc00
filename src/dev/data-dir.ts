import { setting } from '../config';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../db/client';
import { createApiKey, tenantForKey } from '../services/api-keys';
import { localPostgresDirs } from '../db/local-postgres';

/** The clone's root (src/dev/ -> ../..), where `.trellis/` lives unless TRELLIS_DATA_DIR says otherwise. */
const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * Where `npm run dev` keeps state between restarts: the Postgres cluster, the Temporal dev
 * server's database, the development API key and anything else a dev-mode feature must keep
 * (e.g. a secrets master key: put it in this directory, mode 0600, beside `dev-api-key`).
 */
export function devDataDir(configured: string | undefined = setting('TRELLIS_DATA_DIR')): string {
  return path.resolve(configured || path.join(REPO_ROOT, '.trellis'));
}

export async function ensureDataDir(dir: string): Promise<void> {
  // Others may pass through (root's Postgres runs as the `postgres` user and needs ./postgres) but not list it.
  await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  // Not a project file: keep it out of commits even in a clone whose .gitignore lacks it.
  await fs.writeFile(path.join(dir, '.gitignore'), '*\n').catch(() => undefined);
}

/** `--reset`: everything dev mode stored, including a Postgres cluster kept outside the data dir for root. */
export async function resetDataDir(dir: string): Promise<void> {
  for (const target of [dir, ...localPostgresDirs(dir)]) await fs.rm(target, { recursive: true, force: true });
}

/**
 * The development tenant's API key, the same across restarts: kept in `<dataDir>/dev-api-key` and
 * made again only when that file is missing or the key no longer works (new or reset database).
 */
export async function devApiKey(db: Db, dir: string): Promise<{ key: string; tenantId: string; created: boolean }> {
  const file = path.join(dir, 'dev-api-key');
  const stored = (await fs.readFile(file, 'utf8').catch(() => '')).trim();
  const tenantId = stored ? await tenantForKey(db, stored) : undefined;
  if (stored && tenantId) return { key: stored, tenantId, created: false };
  const made = await createApiKey(db, 'dev', 'trellis dev');
  await fs.writeFile(file, `${made.key}\n`, { mode: 0o600 });
  return { ...made, created: true };
}
