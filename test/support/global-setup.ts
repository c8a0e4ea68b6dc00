import pg from 'pg';
import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres';
import { migrate } from '../../src/db/migrator';

export const TEMPLATE_DB = 'trellis_template';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the test Postgres server (embedded unless DATABASE_URL). */
    postgresUrl: string;
  }
}

/**
 * One Postgres for the whole run and one migrated template database; every test file clones
 * the template (CREATE DATABASE ... TEMPLATE), which is fast and isolates files from each other.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startEmbeddedPostgres();
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB}`);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  await admin.end();
  await migrate(withDatabase(server.url, TEMPLATE_DB));
  project.provide('postgresUrl', server.url);
  return () => server.stop();
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
