import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', 'bin', 'trellis.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The real `trellis` launcher in a child process, as an operator runs it. `env` adds to this
 * process's environment; a variable set to undefined is removed from the child's.
 */
export async function trellis(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: childEnv, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
