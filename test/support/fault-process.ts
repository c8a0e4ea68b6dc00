import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOWS_PATH } from '../../src/worker';
export { freePort } from '../../src/util/free-port';

/** What the `journaled` node type of test/support/fault-worker.ts appends to, one row per start and finish. */
export const JOURNAL_DDL = `CREATE TABLE IF NOT EXISTS fault_journal (
  seq bigserial PRIMARY KEY, execution_id text NOT NULL, node_id text NOT NULL, attempt int NOT NULL,
  event text NOT NULL, generation int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`;

/** What the `counted` node type appends to: one row per execution of a map item's body. */
export const SCALE_JOURNAL_DDL = `CREATE TABLE IF NOT EXISTS scale_journal (
  seq bigserial PRIMARY KEY, execution_id text NOT NULL, item int NOT NULL, attempt int NOT NULL,
  generation int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`;

/** One row of `fault_journal`, written by test/support/fault-worker.ts. */
export interface JournalRow {
  seq: number;
  execution_id: string;
  node_id: string;
  attempt: number;
  event: 'start' | 'end';
  generation: number;
}

const ROOT = path.join(__dirname, '..', '..');

/** A child process a test started from the repository root, ready by what it printed. */
export interface FaultProcess {
  child: ChildProcess;
  /** Everything it printed (stdout and stderr), for the test log when something goes wrong. */
  output: string[];
  /** SIGKILL, and wait until the OS reaped it. */
  kill(): Promise<void>;
  /** SIGTERM (a graceful shutdown), SIGKILL if it is still there after `graceMs`; waits until reaped. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns `node <args>` from the repository root and resolves once `isReady(everything printed so
 * far)`; a process that exits or is not ready within `timeoutMs` is killed and the test told why,
 * with its output.
 */
export async function spawnUntil(
  label: string,
  args: string[],
  env: Record<string, string>,
  isReady: (output: string) => boolean,
  timeoutMs = 60_000,
): Promise<FaultProcess> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} not ready after ${timeoutMs} ms:\n${output.join('')}`)), timeoutMs);
    let seen = false;
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      // Checked until it is ready, not on every later chunk of a long, chatty run.
      if (!seen && isReady(output.join(''))) {
        seen = true;
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${code ?? signal}) before it was ready:\n${output.join('')}`));
    });
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const kill = async () => {
    if (alive()) child.kill('SIGKILL');
    await exited;
  };
  const stop = async (graceMs = 15_000) => {
    if (alive()) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(killer);
  };
  try {
    await ready;
  } catch (err) {
    await kill();
    throw err;
  }
  return { child, output, kill, stop };
}

/** Spawns a TypeScript script (`node --import tsx`) and resolves once it prints a line starting with `readyPrefix`. */
export function spawnReady(script: string, env: Record<string, string>, readyPrefix = 'READY', timeoutMs = 60_000): Promise<FaultProcess> {
  const ready = (output: string) => output.split('\n').some((line) => line.startsWith(readyPrefix));
  return spawnUntil(script, ['--import', 'tsx', path.join(ROOT, script)], env, ready, timeoutMs);
}

/** Builds the workflow bundle once, so each worker restart skips webpack; returns its path. */
export async function prebuiltWorkflowBundle(): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundleLogger });
  const file = path.join(os.tmpdir(), `trellis-fault-bundle-${randomBytes(4).toString('hex')}.js`);
  await fs.writeFile(file, code);
  return file;
}

const noop = () => undefined;
const quietBundleLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: console.error };


export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `check` returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
