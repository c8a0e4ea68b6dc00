import { createNodeRegistry, loadPlugins, pluginSpecifiers, PluginError } from '../activities';
import { deploymentQuotas } from '../db/quotas';
import { QuotaSettingInvalid } from '../domain/quotas';
import { processConfig, setting, temporalSettings } from '../config';
import { createDb } from '../db/client';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../db/embedded-postgres';
import { migrate } from '../db/migrator';
import { Redis } from 'ioredis';
import { buildApp } from './app';
import { limitsFromEnv } from './deps';
import { ExecutionEventHub } from '../persistence/execution-event-hub';
import { assertSecretsReadable, masterKeyring } from '../services/secrets';
import { codecCorsOrigins, payloadCodec } from '../crypto/payload-codec';
import { lazyTemporalClient } from '../temporal/client';
import { createTemporalGateway } from '../temporal/gateway';

/**
 * The API process: migrations, then Fastify on HOST:PORT. Without DATABASE_URL it runs an
 * embedded Postgres for development and says how to point a worker at it. Plugins (`--plugin`,
 * TRELLIS_PLUGINS; the workers' own) load first: validation learns their config schemas.
 */
export async function main(options: { plugins?: string[] } = {}): Promise<void> {
  deploymentQuotas(); // TRELLIS_QUOTA_*: a bad value stops the process here, naming the variable
  const plugins = await loadPlugins(pluginSpecifiers(options.plugins));
  for (const line of plugins.summary) console.log(`trellis api: plugin ${line}`);
  let embedded: EmbeddedPostgresHandle | undefined;
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres();
    databaseUrl = embedded.url;
    console.log(`development mode: embedded Postgres at ${databaseUrl} (run the worker with DATABASE_URL=${databaseUrl})`);
  }
  await migrate(databaseUrl);
  const db = createDb(databaseUrl);
  const masterKeys = masterKeyring();
  await assertSecretsReadable(db, masterKeys, 'trellis api');
  const settings = temporalSettings(processConfig());
  const client = lazyTemporalClient(settings);
  const events = new ExecutionEventHub({ onError: (err, context) => console.warn(`event hub: ${context}:`, err) });
  await events.start(databaseUrl);
  const sharedBuckets = setting('TRELLIS_REDIS_URL');
  // Rate-limit buckets shared by the replicas; commands fail fast while Redis is away (the limiter lets requests through).
  const rateLimitRedis = sharedBuckets ? new Redis(sharedBuckets, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 }) : undefined;
  rateLimitRedis?.on('error', (err) => console.warn(`trellis api: redis: ${err.message}`));
  const app = await buildApp({
    ...(rateLimitRedis && { rateLimitRedis }),
    db,
    events,
    temporal: createTemporalGateway(client, settings.taskQueue),
    catalog: createNodeRegistry(plugins.nodeTypes).catalog(),
    masterKeys,
    payloadCodec: payloadCodec(),
    codecCorsOrigins: codecCorsOrigins(),
    logger: { level: process.env.LOG_LEVEL ?? 'info' },
    limits: limitsFromEnv(process.env),
  });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    await app.close(); // stops accepting, lets in-flight requests finish
    await events.close();
    rateLimitRedis?.disconnect();
    await db.$disconnect();
    await client.connection.close();
    await embedded?.stop();
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  const host = process.env.HOST ?? '127.0.0.1';
  const port = Number(process.env.PORT ?? 3000);
  try {
    await app.listen({ host, port });
  } catch (err) {
    // Close what is open, or its handles would keep a process that cannot serve alive forever.
    await shutdown('listen failed');
    const code = (err as { code?: string }).code;
    throw new Error(code === 'EADDRINUSE' ? `${host}:${port} is already in use (set HOST/PORT)` : `cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof PluginError || err instanceof QuotaSettingInvalid ? `trellis api: ${err.message}` : err);
    process.exit(1);
  });
}
