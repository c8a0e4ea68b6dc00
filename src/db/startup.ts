import type { TrellisConfig } from '../config';
import { migrate, pendingMigrations } from './migrator';

/** The database side of a process's settings (DESIGN §7). */
export interface DatabaseUrls {
  /** The pool's URL: may be a transaction-mode pooler (PgBouncer). */
  url: string;
  /** A direct session connection: LISTEN, advisory locks, migrations. */
  directUrl: string;
}

export class SchemaBehind extends Error {}

export function databaseUrls(config: Pick<TrellisConfig, 'DATABASE_URL' | 'DATABASE_DIRECT_URL'>): DatabaseUrls {
  // loadConfig refuses to start the api/worker/migrate roles without DATABASE_URL.
  if (!config.DATABASE_URL) throw new Error('DATABASE_URL is not set');
  return { url: config.DATABASE_URL, directUrl: config.DATABASE_DIRECT_URL ?? config.DATABASE_URL };
}

/**
 * What a process does with the schema at start: migrate it (TRELLIS_MIGRATE_ON_START, the
 * default, through the direct URL), or, with migrations a separate deploy step, refuse to run on
 * a schema that is behind rather than fail later on a missing column.
 */
export async function prepareSchema(
  config: Pick<TrellisConfig, 'DATABASE_URL' | 'DATABASE_DIRECT_URL' | 'TRELLIS_MIGRATE_ON_START'>,
  who: string,
): Promise<{ applied: string[] }> {
  const { directUrl } = databaseUrls(config);
  if (config.TRELLIS_MIGRATE_ON_START) return { applied: (await migrate(directUrl)).applied };
  const pending = await pendingMigrations(directUrl);
  if (pending.length > 0) {
    const shown = pending.length > 3 ? `${pending.slice(0, 3).join(', ')} and ${pending.length - 3} more` : pending.join(', ');
    // The process prefixes its own name (`trellis api: ...`); `who` says which one does not migrate.
    throw new SchemaBehind(
      `the database schema is behind (${pending.length} migration(s) pending: ${shown}); TRELLIS_MIGRATE_ON_START is false, so ${who} does not apply them: run \`trellis migrate\` first`,
    );
  }
  return { applied: [] };
}
