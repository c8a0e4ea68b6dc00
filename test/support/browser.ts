import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/*
 * The console's browser tests drive Debian's chromium through playwright-core. What they share:
 * where the browser is, how it is launched, the one loud line when it is missing, and building
 * the console when a file runs on its own (`npm test` builds it first).
 */

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = path.resolve(__dirname, '../..');
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Whether chromium is there; says so loudly for `testFile` when it is not (the file's tests then skip). */
export function haveChromium(testFile: string): boolean {
  const have = existsSync(CHROMIUM);
  if (!have) console.log(`!!! SKIPPING ${testFile}: no browser at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  return have;
}

/** Builds the console into dist/ui unless it is built already. */
export function ensureConsoleBuilt(): void {
  if (existsSync(path.join(ROOT, 'dist/ui/index.html'))) return;
  execFileSync('npx', ['vite', 'build', '--config', 'ui/vite.config.mts', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
}
