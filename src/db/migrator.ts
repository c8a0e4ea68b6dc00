import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';

export const MIGRATIONS_DIR = path.join(__dirname, '..', '..', 'prisma', 'migrations');

/**
 * Any two processes migrating one database serialize on this advisory lock. It is a session lock:
 * migrate through a direct connection (DATABASE_DIRECT_URL), never a transaction-mode pooler,
 * which would hand the lock's session to someone else between statements.
 */
const LOCK_KEY = 7_351_294_113;

/**
 * A migration whose first line is this comment runs outside a transaction, one statement at a
 * time (CREATE INDEX CONCURRENTLY, ALTER TYPE ... ADD VALUE before Postgres 12 cannot run inside
 * one). Its statements end with `;` at the end of a line. If one fails, the migration stays
 * recorded as started and unfinished: `trellis migrate` refuses to go on until it is resolved by
 * hand, as `prisma migrate` does (the statements before it have taken effect).
 */
export const NO_TRANSACTION_MARKER = '-- trellis:no-transaction';

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

/**
 * Applies prisma/migrations/<name>/migration.sql in name order, recording each in Prisma's own
 * `_prisma_migrations` table (same columns and checksum), so `prisma migrate deploy` on a
 * machine that has the schema engine sees the same history and applies nothing twice.
 */
export async function migrate(databaseUrl: string, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const migrations = await readMigrations(dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`);
    const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      'SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL',
    );
    const done = new Map(rows.map((r) => [r.migration_name, r]));
    const result: MigrationResult = { applied: [], alreadyApplied: [] };
    for (const migration of migrations) {
      const previous = done.get(migration.name);
      if (previous?.finished_at) {
        if (previous.checksum !== migration.checksum) {
          throw new Error(`migration ${migration.name} was changed after it was applied (checksum differs)`);
        }
        result.alreadyApplied.push(migration.name);
        continue;
      }
      if (previous) throw new Error(`migration ${migration.name} failed earlier; resolve it by hand before migrating again`);
      await apply(client, migration);
      result.applied.push(migration.name);
    }
    return result;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}

/**
 * The migrations on disk that this database has not finished, without applying any: a process
 * started with TRELLIS_MIGRATE_ON_START=false refuses to run on a schema that is behind.
 */
export async function pendingMigrations(databaseUrl: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const migrations = await readMigrations(dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: table } = await client.query<{ present: boolean }>(`SELECT to_regclass('"_prisma_migrations"') IS NOT NULL AS present`);
    if (!table[0]?.present) return migrations.map((m) => m.name);
    const { rows } = await client.query<{ migration_name: string }>(
      'SELECT migration_name FROM "_prisma_migrations" WHERE rolled_back_at IS NULL AND finished_at IS NOT NULL',
    );
    const done = new Set(rows.map((r) => r.migration_name));
    return migrations.filter((m) => !done.has(m.name)).map((m) => m.name);
  } finally {
    await client.end();
  }
}

interface Migration {
  name: string;
  sql: string;
  checksum: string;
  /** First line NO_TRANSACTION_MARKER: statement by statement, outside a transaction. */
  transactional: boolean;
}

/** A no-transaction migration's statements: each ends with `;` at the end of a line (comments dropped). */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current: string[] = [];
  for (const line of sql.split('\n')) {
    if (current.length === 0 && /^\s*(--.*)?$/.test(line)) continue;
    current.push(line);
    if (/;\s*$/.test(line)) {
      statements.push(current.join('\n').trim());
      current = [];
    }
  }
  const rest = current.join('\n').trim();
  if (rest) statements.push(rest);
  return statements;
}

async function readMigrations(dir: string): Promise<Migration[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await fs.readFile(path.join(dir, name, 'migration.sql'), 'utf8');
      const transactional = sql.split('\n', 1)[0]!.trim() !== NO_TRANSACTION_MARKER;
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex'), transactional };
    }),
  );
}

async function apply(client: pg.Client, migration: Migration): Promise<void> {
  const id = randomUUID();
  if (!migration.transactional) return applyOutsideTransaction(client, migration, id);
  await client.query('BEGIN');
  try {
    await client.query(
      'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())',
      [id, migration.checksum, migration.name],
    );
    await client.query(migration.sql);
    await client.query('UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1', [id]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw new Error(`migration ${migration.name} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Recorded as started first, so a failure half-way is visible (and blocks later migrations). */
async function applyOutsideTransaction(client: pg.Client, migration: Migration, id: string): Promise<void> {
  await client.query('INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())', [
    id,
    migration.checksum,
    migration.name,
  ]);
  const statements = splitStatements(migration.sql);
  for (const [index, statement] of statements.entries()) {
    try {
      await client.query(statement);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await client.query('UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1', [id, `statement ${index + 1}: ${message}`]).catch(() => undefined);
      throw new Error(
        `migration ${migration.name} failed at statement ${index + 1} of ${statements.length} (outside a transaction: the ones before it took effect): ${message}`,
      );
    }
  }
  await client.query('UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = $2 WHERE id = $1', [id, statements.length]);
}
