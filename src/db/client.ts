import { createHash } from 'node:crypto';
import type pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client';

export type Db = PrismaClient;

/**
 * A raw statement whose SQL starts with this comment (`/* prepared *\/ ...`) runs as a named
 * prepared statement: each connection parses and plans it once. Meant for the few hot ones
 * (starting a run: its statement cost Postgres 2–2.5× the CPU unprepared); other statements
 * stay unnamed, so the per-connection statement cache stays bounded by the marked ones.
 */
export const PREPARED = '/* prepared */';

/** The statement's name: a hash of its text, so two marked statements never share one. */
export function preparedStatementName(sql: string): string | undefined {
  if (!sql.trimStart().startsWith(PREPARED)) return undefined;
  return `trellis_${createHash('sha256').update(sql).digest('hex').slice(0, 16)}`;
}

/**
 * Prisma over node-postgres (no native query engine). `pool` replaces the pool the adapter
 * would make (a bench counts statements through it).
 */
export function createDb(databaseUrl: string, options: { max?: number; pool?: pg.Pool } = {}): Db {
  const adapterOptions = { statementNameGenerator: (query: { sql: string }) => preparedStatementName(query.sql) as string };
  const adapter = new PrismaPg(options.pool ?? { connectionString: databaseUrl, max: options.max ?? 10 }, adapterOptions);
  return new PrismaClient({ adapter });
}
