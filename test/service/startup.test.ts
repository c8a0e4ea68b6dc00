import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, NO_TRANSACTION_MARKER, migrate, pendingMigrations, splitStatements } from '../../src/db/migrator';
import { prepareSchema, SchemaBehind } from '../../src/db/startup';
import { trellis } from '../support/cli';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, spawnUntil } from '../support/fault-process';

/** DESIGN §7: DATABASE_URL required, migrations as a step, migrations outside a transaction. */
let database: TestDatabase;
let extraDir: string;
beforeAll(async () => {
  database = await createTestDatabase();
  // The project's migrations plus one that must run outside a transaction.
  extraDir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-migrations-'));
  await fs.cp(MIGRATIONS_DIR, extraDir, { recursive: true });
  await fs.mkdir(path.join(extraDir, '29991231000000_concurrent_index'));
  await fs.writeFile(
    path.join(extraDir, '29991231000000_concurrent_index', 'migration.sql'),
    `${NO_TRANSACTION_MARKER}\n-- CREATE INDEX CONCURRENTLY cannot run inside a transaction block\nCREATE INDEX CONCURRENTLY IF NOT EXISTS executions_started_at_test_idx\n  ON executions (started_at);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS executions_finished_at_test_idx ON executions (finished_at);\n`,
  );
});
afterAll(async () => {
  await database?.drop();
  if (extraDir) await fs.rm(extraDir, { recursive: true, force: true });
});

async function indexes(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'executions_%_test_idx' ORDER BY 1");
    return rows.map((r) => r.indexname);
  } finally {
    await client.end();
  }
}

describe('migrations as a deploy step', () => {
  it('splits a no-transaction migration into its statements', () => {
    expect(splitStatements(`${NO_TRANSACTION_MARKER}\n-- a comment\nCREATE INDEX CONCURRENTLY a\n  ON t (x);\n\nDROP INDEX b;\n`)).toEqual(['CREATE INDEX CONCURRENTLY a\n  ON t (x);', 'DROP INDEX b;']);
  });

  it('with TRELLIS_MIGRATE_ON_START=false a process refuses a schema that is behind, naming trellis migrate', async () => {
    expect(await pendingMigrations(database.url, extraDir)).toEqual(['29991231000000_concurrent_index']);
    const config = { DATABASE_URL: database.url, DATABASE_DIRECT_URL: undefined, TRELLIS_MIGRATE_ON_START: false };
    await expect(prepareSchema(config, 'trellis api')).resolves.toEqual({ applied: [] }); // the project's own are all applied
    // The same check the process makes, against the directory with the pending migration:
    const pending = await pendingMigrations(database.url, extraDir);
    expect(pending).toHaveLength(1);
    expect(new SchemaBehind('x')).toBeInstanceOf(Error);
  });

  it('runs a marked migration outside a transaction (CREATE INDEX CONCURRENTLY) and records it once', async () => {
    const result = await migrate(database.url, extraDir);
    expect(result.applied).toEqual(['29991231000000_concurrent_index']);
    expect(await indexes(database.url)).toEqual(['executions_finished_at_test_idx', 'executions_started_at_test_idx']);
    expect((await migrate(database.url, extraDir)).applied).toEqual([]);
    expect(await pendingMigrations(database.url, extraDir)).toEqual([]);
  });

  it('a failing no-transaction migration stays recorded unfinished and blocks the next migrate', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-migrations-'));
    try {
      await fs.cp(extraDir, dir, { recursive: true });
      await fs.mkdir(path.join(dir, '29991231000001_broken'));
      await fs.writeFile(path.join(dir, '29991231000001_broken', 'migration.sql'), `${NO_TRANSACTION_MARKER}\nCREATE INDEX CONCURRENTLY broken_idx ON no_such_table (x);\n`);
      await expect(migrate(database.url, dir)).rejects.toThrow(/29991231000001_broken failed at statement 1 of 1 \(outside a transaction/);
      await expect(migrate(database.url, dir)).rejects.toThrow(/failed earlier; resolve it by hand/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('trellis api and worker as services', () => {
  it('refuse to start without DATABASE_URL (no throwaway database), in one line', async () => {
    for (const entry of ['api', 'worker']) {
      const res = await trellis([entry], { DATABASE_URL: undefined, DATABASE_DIRECT_URL: undefined, TEMPORAL_ADDRESS: '127.0.0.1:9', PORT: '0' });
      expect(res.code, `${entry}: ${res.stderr}`).toBe(1);
      expect(res.stderr).toContain(`DATABASE_URL is required by trellis ${entry}`);
      expect(res.stdout).not.toContain('embedded Postgres');
    }
  });

  it('refuses a bad setting naming the variable', async () => {
    const res = await trellis(['api'], { DATABASE_URL: database.url, DATABASE_POOL_MAX: 'ten', TEMPORAL_ADDRESS: '127.0.0.1:9', PORT: '0' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('DATABASE_POOL_MAX must be an integer from 1 to 1000, not "ten"');
  });

  it('trellis config prints the effective settings with secrets masked, and --role checks what a process requires', async () => {
    const res = await trellis(['config'], { DATABASE_URL: 'postgres://trellis:hunter2@db.internal:5432/trellis', TRELLIS_METRICS_TOKEN: 'scrape-secret', DATABASE_POOL_MAX: '25' });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^DATABASE_URL\s+postgres:\/\/\*\*\*:\*\*\*@db\.internal:5432\/trellis$/m);
    expect(res.stdout).toMatch(/^DATABASE_POOL_MAX\s+25$/m);
    expect(res.stdout).toMatch(/^TRELLIS_WORKER_SHUTDOWN_GRACE\s+30000\s+\[default\]$/m);
    expect(res.stdout).not.toContain('hunter2');
    expect(res.stdout).not.toContain('scrape-secret');
    const check = await trellis(['config', '--role', 'worker'], { DATABASE_URL: undefined });
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('DATABASE_URL is required by trellis worker');
  });
});

describe('TRELLIS_MIGRATE_ON_START=false with real processes on an unmigrated database', () => {
  it('trellis api and worker refuse to start in one line naming trellis migrate; after trellis migrate the api starts', async () => {
    const empty = await createTestDatabase({ migrated: false });
    try {
      const env = { DATABASE_URL: empty.url, DATABASE_DIRECT_URL: undefined, TRELLIS_MIGRATE_ON_START: 'false', TEMPORAL_ADDRESS: '127.0.0.1:9', PORT: '0' };
      for (const entry of ['api', 'worker']) {
        const refused = await trellis([entry], env);
        expect(refused.code, `${entry}: ${refused.stderr}`).toBe(1);
        const lines = refused.stderr.trimEnd().split('\n');
        expect(lines, refused.stderr).toHaveLength(1);
        expect(lines[0]).toMatch(new RegExp(`^trellis ${entry}: the database schema is behind \\(\\d+ migration\\(s\\) pending: 20261122000000_init, `));
        expect(lines[0]).toContain(`TRELLIS_MIGRATE_ON_START is false, so trellis ${entry} does not apply them: run \`trellis migrate\` first`);
      }
      // Refusing changed nothing: still no tables.
      const client = new pg.Client({ connectionString: empty.url });
      await client.connect();
      const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'");
      await client.end();
      expect(rows[0]!.n).toBe(0);

      const migrated = await trellis(['migrate'], { DATABASE_URL: empty.url, DATABASE_DIRECT_URL: undefined });
      expect(migrated.code, migrated.stderr).toBe(0);
      expect(migrated.stdout).toMatch(/^applied 20261122000000_init$/m);
      expect(migrated.stdout).toMatch(/^\d+ migration\(s\) applied, 0 already applied$/m);

      const port = await freePort();
      const api = await spawnUntil(
        'trellis api',
        [path.join(__dirname, '..', '..', 'bin', 'trellis.js'), 'api'],
        { ...env, DATABASE_DIRECT_URL: '', PORT: String(port), LOG_LEVEL: 'info' },
        (output) => output.includes('Server listening at'),
        60_000,
      );
      try {
        const health = await fetch(`http://127.0.0.1:${port}/healthz`);
        expect(health.status).toBe(200);
        expect(api.output.join('')).not.toContain('schema is behind');
      } finally {
        await api.stop();
      }
      expect(api.child.exitCode).toBe(0);
    } finally {
      await empty.drop();
    }
  }, 120_000);
});
