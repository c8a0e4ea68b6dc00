import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { freePort } from '../support/fault-process';

const ROOT = path.join(__dirname, '..', '..');

/** `npm run dev` as a child process (`node --import tsx src/dev.ts`), started and stopped as a user would. */
export interface DevProcess {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  apiUrl: string;
  demoUrl: string;
  key: string;
  banner: string;
  /** Ctrl-C: SIGINT to its process group, as a terminal sends it; resolves with the exit code. */
  interrupt(): Promise<number | null>;
  json<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }>;
}


export async function startDev(options: { temporalAddress: string; dataDir: string; args?: string[]; taskQueue?: string }): Promise<DevProcess> {
  const [port, demoPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'dev.ts'), ...(options.args ?? [])], {
    cwd: ROOT,
    // Its own process group, so interrupt() can signal it the way a terminal's Ctrl-C does.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      DATABASE_URL: '',
      TRELLIS_HTTP_ALLOW_PRIVATE: '',
      TEMPORAL_ADDRESS: options.temporalAddress,
      TRELLIS_TASK_QUEUE: options.taskQueue ?? `trellis-dev-test-${randomUUID()}`,
      TRELLIS_DATA_DIR: options.dataDir,
      PORT: String(port),
      TRELLIS_DEMO_PORT: String(demoPort),
      LOG_LEVEL: 'warn',
    },
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const banner = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev not ready after 180 s:\n${stdout.join('')}\n${stderr.join('')}`)), 180_000);
    child.stdout!.on('data', (c: Buffer) => {
      stdout.push(c.toString());
      const text = stdout.join('');
      if (/^trl_\S+$/m.test(text) && text.includes('Ctrl-C')) {
        clearTimeout(timer);
        resolve(text);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`dev exited (${code}) before it was ready:\n${stdout.join('')}\n${stderr.join('')}`));
    });
  });
  const key = /^(trl_\S+)$/m.exec(banner)![1]!;
  const apiUrl = `http://127.0.0.1:${port}`;
  return {
    child,
    stdout,
    stderr,
    apiUrl,
    demoUrl: `http://127.0.0.1:${demoPort}`,
    key,
    banner,
    interrupt: async () => {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGINT');
      return exited;
    },
    json: async <T,>(method: string, url: string, body?: unknown) => {
      const res = await fetch(`${apiUrl}${url}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as T };
    },
  };
}
