import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';

export type Db = PrismaClient;

/** Where a Db keeps its pool: a property (not a WeakMap), so a Proxy over the Db finds it too. */
const POOL = Symbol('trellis.pg.pool');

/**
 * Prisma over node-postgres (no native query engine). `pool` replaces the pool made here (a
 * bench counts statements through it); either way `$disconnect` ends it.
 */
export function createDb(databaseUrl: string, options: { max?: number; pool?: pg.Pool } = {}): Db {
  const pool = options.pool ?? new pg.Pool({ connectionString: databaseUrl, max: options.max ?? 10 });
  // A pooled connection that dies while idle (Postgres restarted) is dropped by the pool; without
  // a listener its error would end the process before Prisma's adapter attaches its own.
  pool.on('error', () => undefined);
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  Object.defineProperty(db, POOL, { value: pool });
  return db;
}

/**
 * The node-postgres pool under a Db, for the few hot statements that skip Prisma's query
 * pipeline (starting a run: Prisma's raw-query path cost about as much CPU as node-postgres itself).
 */
export function sqlPool(db: Db): pg.Pool {
  const pool = (db as unknown as { [POOL]?: pg.Pool })[POOL];
  if (!pool) throw new Error('this Db was not made by createDb: it has no node-postgres pool');
  return pool;
}
