import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createDb, type Db } from '../../src/db/client';
import { TEMPLATE_DB, withDatabase } from './global-setup';

export interface TestDatabase {
  url: string;
  db: Db;
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database cloned from the run's template; `{ migrated: false }`: an empty one
 * (no tables), for tests of migrations as a deploy step.
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const serverUrl = inject('postgresUrl');
  const name = `trellis_test_${randomBytes(6).toString('hex')}`;
  await admin(serverUrl, options.migrated === false ? `CREATE DATABASE ${name}` : `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`);
  const url = withDatabase(serverUrl, name);
  const db = createDb(url, { max: 5 });
  return {
    url,
    db,
    async drop() {
      await db.$disconnect();
      await admin(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
