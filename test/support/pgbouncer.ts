import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../src/util/free-port';

/** Debian's PgBouncer (1.18 on bookworm); CI installs it as it installs chromium. */
export const PGBOUNCER = '/usr/sbin/pgbouncer';

export interface PgBouncer {
  /** The same database and credentials as `directUrl`, through PgBouncer in transaction mode. */
  url: string;
  /** PgBouncer's admin console (SHOW STATS, SHOW POOLS): simple queries only. */
  adminUrl: string;
  /** What it printed, for a failing test's message. */
  output: string[];
  stop(): Promise<void>;
}

/**
 * PgBouncer on a free loopback port in front of the database of `directUrl`, in transaction
 * mode with a small server pool (`poolSize`), so statements of different clients share server
 * connections the way they do in production. It refuses to run as root: under root it runs as
 * the `postgres` OS user (the one embedded Postgres runs as), else `nobody`.
 */
export async function startPgBouncer(directUrl: string, options: { poolSize?: number } = {}): Promise<PgBouncer> {
  const direct = new URL(directUrl);
  const database = direct.pathname.slice(1);
  const user = decodeURIComponent(direct.username);
  const password = decodeURIComponent(direct.password);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-pgbouncer-'));
  const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;
  const userList = path.join(dir, 'userlist.txt');
  fs.writeFileSync(userList, `"${user}" "${password}"\n`);
  const ini = path.join(dir, 'pgbouncer.ini');
  fs.writeFileSync(
    ini,
    [
      '[databases]',
      `${database} = host=${direct.hostname} port=${direct.port || 5432} dbname=${database} user=${user} password=${quote(password)}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${userList}`,
      `admin_users = ${user}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize ?? 3}`,
      'max_client_conn = 200',
      // node-postgres and Prisma's adapter send these at connect; PgBouncer would refuse the login.
      'ignore_startup_parameters = extra_float_digits,options',
      '',
    ].join('\n'),
  );
  const runAs = process.getuid?.() === 0 ? osUser('postgres') ?? osUser('nobody') : undefined;
  if (runAs) {
    for (const file of [dir, userList, ini]) fs.chownSync(file, runAs.uid, runAs.gid);
  }
  const child: ChildProcess = spawn(PGBOUNCER, [ini], { stdio: ['ignore', 'pipe', 'pipe'], ...(runAs && { uid: runAs.uid, gid: runAs.gid }) });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = new URL(directUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  const adminUrl = new URL(url);
  adminUrl.pathname = '/pgbouncer';
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // Ready once a query goes through it to Postgres.
  for (let tries = 0; ; tries++) {
    const client = new pg.Client({ connectionString: url.toString() });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      break;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (tries > 50 || child.exitCode !== null) {
        await stop();
        throw new Error(`PgBouncer did not come up (${String(err)}):\n${output.join('')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { url: url.toString(), adminUrl: adminUrl.toString(), output, stop };
}

function osUser(name: string): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** Transactions PgBouncer passed to `database` so far (SHOW STATS on the admin console). */
export async function pooledTransactions(adminUrl: string, database: string): Promise<number> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ database: string; total_xact_count: string }>('SHOW STATS');
    return Number(rows.find((r) => r.database === database)?.total_xact_count ?? 0);
  } finally {
    await client.end();
  }
}
