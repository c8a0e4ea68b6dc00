import { createNodeRegistry, loadPlugins, pluginSpecifiers, PluginError } from '../activities';
import { ConfigError, installConfig, loadConfig, processEnvironment, temporalSettings, type TrellisConfig } from '../config';
import { createDb } from '../db/client';
import { databaseUrls, prepareSchema, SchemaBehind } from '../db/startup';
import { Redis } from 'ioredis';
import { buildApp } from './app';
import { limitsFromConfig } from './deps';
import { ExecutionEventHub } from '../persistence/execution-event-hub';
import { assertSecretsReadable, masterKeyring } from '../services/secrets';
import { codecCorsOrigins, payloadCodec } from '../crypto/payload-codec';
import { lazyTemporalClient } from '../temporal/client';
import { createTemporalGateway } from '../temporal/gateway';
import { createLogger, fastifyLoggerOptions, type TrellisLoggerOptions } from '../observability/logger';
import { startTracing } from '../observability/tracing';

/**
 * The API process: settings (validated; DATABASE_URL required), the schema (migrated, or checked
 * when migrations are a deploy step), then Fastify on HOST:PORT. The pool goes through
 * DATABASE_URL (a transaction-mode pooler is fine); LISTEN through DATABASE_DIRECT_URL. Plugins
 * (`--plugin`, TRELLIS_PLUGINS; the workers' own) load first: validation learns their config schemas.
 */
export async function main(options: { plugins?: string[]; config?: TrellisConfig } = {}): Promise<void> {
  const config = installConfig(options.config ?? loadConfig(processEnvironment(), { role: 'api' }));
  // JSON lines (LOG_FORMAT=pretty for people): these start-up lines and Fastify's share the configuration.
  const logOptions: TrellisLoggerOptions = { name: 'trellis-api', level: config.LOG_LEVEL, format: config.LOG_FORMAT };
  const log = createLogger(logOptions);
  for (const name of config.unknown) log.warn(`${name} is not a Trellis setting (ignored; a typo?)`);
  const tracing = startTracing(config, 'api'); // OTEL_* (off by default); before the Temporal client
  const plugins = await loadPlugins(pluginSpecifiers(options.plugins));
  for (const line of plugins.summary) log.info(`plugin ${line}`);
  const urls = databaseUrls(config);
  await prepareSchema(config, 'trellis api');
  const db = createDb(urls.url, { max: config.DATABASE_POOL_MAX });
  const masterKeys = masterKeyring();
  await assertSecretsReadable(db, masterKeys, 'trellis api');
  const settings = temporalSettings(config);
  const client = lazyTemporalClient(settings);
  const events = new ExecutionEventHub({ onError: (err, context) => log.warn({ err, context }, 'event hub failed') });
  await events.start(urls.directUrl);
  const sharedBuckets = config.TRELLIS_REDIS_URL;
  // Rate-limit buckets shared by the replicas; commands fail fast while Redis is away (the limiter lets requests through).
  const rateLimitRedis = sharedBuckets ? new Redis(sharedBuckets, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 }) : undefined;
  rateLimitRedis?.on('error', (err) => log.warn({ err: err.message }, 'redis (shared rate limits) unavailable'));
  const app = await buildApp({
    ...(rateLimitRedis && { rateLimitRedis }),
    db,
    events,
    temporal: createTemporalGateway(client, settings.taskQueue),
    catalog: createNodeRegistry(plugins.nodeTypes).catalog(),
    masterKeys,
    payloadCodec: payloadCodec(),
    codecCorsOrigins: codecCorsOrigins(),
    logger: fastifyLoggerOptions(logOptions),
    limits: limitsFromConfig(config),
    trustProxy: config.TRELLIS_TRUST_PROXY,
    ...(config.TRELLIS_METRICS_TOKEN && { metricsToken: config.TRELLIS_METRICS_TOKEN }),
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
    await tracing?.shutdown();
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  const { HOST: host, PORT: port } = config;
  try {
    await app.listen({ host, port });
  } catch (err) {
    // Close what is open, or its handles would keep a process that cannot serve alive forever.
    await shutdown('listen failed');
    const code = (err as { code?: string }).code;
    throw new Error(code === 'EADDRINUSE' ? `${host}:${port} is already in use (set HOST/PORT)` : `cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
}

/** Errors that are the operator's to fix, said in one line. */
export function isStartError(err: unknown): err is Error {
  return err instanceof PluginError || err instanceof ConfigError || err instanceof SchemaBehind;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(isStartError(err) ? `trellis api: ${err.message}` : err);
    process.exit(1);
  });
}
