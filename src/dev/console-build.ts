import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const UI_DIR = path.join(REPO_ROOT, 'ui');
export const CONSOLE_DIST = path.join(REPO_ROOT, 'dist', 'ui');

/** The newest modification time of any file under `dir` (0 when it does not exist). */
async function newestMtime(dir: string): Promise<number> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  let newest = 0;
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const stat = await fs.stat(path.join(entry.parentPath, entry.name)).catch(() => undefined);
    if (stat && stat.mtimeMs > newest) newest = stat.mtimeMs;
  }
  return newest;
}

/**
 * Builds the console into dist/ui when it is missing or older than its sources, so that
 * `npm run dev` serves /ui without a separate `npm run build:ui`. Returns a one-line note for the
 * banner when the console cannot be served (no sources and no build, or the build failed).
 */
export async function ensureConsoleBuilt(): Promise<{ built: boolean; note?: string }> {
  const index = path.join(CONSOLE_DIST, 'index.html');
  const sources = existsSync(path.join(UI_DIR, 'vite.config.mts'));
  if (!sources) return existsSync(index) ? { built: true } : { built: false, note: 'console not available (no ui/ sources and no dist/ui)' };
  const builtAt = existsSync(index) ? (await fs.stat(index)).mtimeMs : 0;
  if (builtAt > 0 && builtAt >= (await newestMtime(UI_DIR))) return { built: true };

  let vite: string;
  try {
    // vite's package exports hide bin/; its package.json is exported.
    vite = path.join(path.dirname(require.resolve('vite/package.json', { paths: [REPO_ROOT] })), 'bin', 'vite.js');
  } catch {
    return { built: existsSync(index), note: 'console not rebuilt: vite is not installed (npm install without --omit=dev)' };
  }
  // Built beside dist/ui and swapped in, so a console being served (or a second dev process
  // building at the same time) never sees a half-written directory.
  const staging = `${CONSOLE_DIST}.build-${process.pid}-${Date.now()}`;
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve) => {
    const args = [vite, 'build', '--config', path.join(UI_DIR, 'vite.config.mts'), '--outDir', staging, '--emptyOutDir', '--logLevel', 'warn'];
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (c: Buffer) => output.push(c.toString()));
    child.stderr.on('data', (c: Buffer) => output.push(c.toString()));
    child.on('error', (err) => {
      output.push(err.message);
      resolve(null);
    });
    child.on('exit', (exitCode) => resolve(exitCode));
  });
  if (code === 0) {
    const old = `${CONSOLE_DIST}.old-${process.pid}-${Date.now()}`;
    await fs.rename(CONSOLE_DIST, old).catch(() => undefined);
    // Another dev process may have swapped its build in meanwhile: then that one stays.
    await fs.rename(staging, CONSOLE_DIST).catch(() => fs.rm(staging, { recursive: true, force: true }));
    await fs.rm(old, { recursive: true, force: true });
    return { built: true };
  }
  await fs.rm(staging, { recursive: true, force: true });
  const tail = output.join('').trim().split('\n').slice(-3).join(' | ');
  return { built: existsSync(index), note: `console build failed (npm run build:ui to see why): ${tail}` };
}
