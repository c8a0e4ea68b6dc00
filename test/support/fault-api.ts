/**
 * The Trellis API as its own process, for the fault tests (the test SIGKILLs it mid-burst and
 * starts another on the same port). Wired like src/api/server.ts, minus migrations (the test
 * database is migrated) and the SSE hub, with the rate limit raised for a 200-request burst.
 *
 * Env: DATABASE_URL, TEMPORAL_ADDRESS, TRELLIS_TASK_QUEUE, PORT. Prints `READY <port>` once listening.
 */
import { Client, Connection } from '@temporalio/client';
import { createNodeRegistry } from '../../src/activities';
import { buildApp } from '../../src/api/app';
import { createTemporalGateway } from '../../src/temporal/gateway';
import { createDb } from '../../src/db/client';

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is required');
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
  const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE || 'default' });
  const app = await buildApp({
    db: createDb(databaseUrl),
    temporal: createTemporalGateway(client, process.env.TRELLIS_TASK_QUEUE ?? 'trellis'),
    catalog: createNodeRegistry().catalog(),
    limits: { rateLimitPerMinute: 100_000 },
    logger: false,
  });
  const port = Number(process.env.PORT ?? 3000);
  await app.listen({ host: '127.0.0.1', port });
  console.log(`READY ${port}`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
