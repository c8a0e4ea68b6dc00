import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { buildApp } from './api/app';
import { createTemporalClient } from './temporal/client';
import { createTemporalGateway } from './temporal/gateway';
import { setupSearchAttributes } from './temporal/search-attribute-setup';
import { createNodeRegistry, loadPlugins, pluginSpecifiers, PluginError } from './activities';
import { closePostgresPools } from './activities/nodes/postgres';
import { connectionOptions, installConfig, loadConfig, processEnvironment, temporalSettings, withValues, type TemporalSettings, type TrellisConfig } from './config';
import { createDb } from './db/client';
import { LocalPostgresError, startLocalPostgres } from './db/local-postgres';
import { migrate } from './db/migrator';
import { ensureConsoleBuilt } from './dev/console-build';
import { devApiKey, devDataDir, ensureDataDir, resetDataDir } from './dev/data-dir';
import { DEMO_DEFAULT_PORT, startDemoTarget, withDemoBase } from './dev/demo-target';
import { ensureDemoReportsDatabase } from './dev/demo-reports';
import { installDevLogging } from './dev/dev-logger';
import { startTracing } from './observability/tracing';
import { startReconciler } from './persistence/reconciler';
import { ExecutionEventHub } from './persistence/execution-event-hub';
import { createWorkflow } from './services/workflows';
import { validateDefinition } from './domain/validate';
import type { NodeCatalog } from './domain/node-types';
import { createTrellisWorker, runTrellisWorker, workerTuning } from './worker';
import { ensureDevMasterKey } from './dev/master-key';

/** A missing prerequisite, said in one line without a stack trace. */
class DevSetupError extends Error {}

const EXAMPLES_DIR = path.join(__dirname, '..', 'examples');
const USAGE = `Usage: npm run dev -- [--examples] [--reset] [--plugin FILE]...
  --examples  load examples/*.json into the development tenant
  --plugin    load custom node types (repeatable; also TRELLIS_PLUGINS), e.g. examples/plugins/checksum.mjs
  --reset     delete the data directory (${path.relative(process.cwd(), devDataDir()) || '.'}) first: a new database, key and Temporal state
Environment: PORT (3000), HOST (127.0.0.1), TRELLIS_DATA_DIR, DATABASE_URL, TEMPORAL_ADDRESS, TRELLIS_DEMO_PORT (${DEMO_DEFAULT_PORT}), LOG_LEVEL`;

/**
 * Everything in one process for a newcomer: Postgres (a persistent cluster in the data dir unless
 * DATABASE_URL), migrations, Temporal (the CLI's dev server, persisted in the data dir, unless
 * TEMPORAL_ADDRESS), a worker that may call loopback, a demo HTTP target for the examples, the
 * reconciler, the API and the console. State survives restarts; `--reset` starts clean.
 * Ctrl-C stops it all in reverse order.
 */
export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      examples: { type: 'boolean', default: false },
      reset: { type: 'boolean', default: false },
      plugin: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(USAGE);
  // Settings are validated once; what dev mode decides itself it passes as values (never as
  // variables other modules read back). The dev worker (this process only) may call loopback:
  // the demo target and the user's own local services.
  const loaded = loadConfig(processEnvironment(), { role: 'dev', given: { TRELLIS_HTTP_ALLOW_LOOPBACK: true } });
  const dataDir = devDataDir(loaded.TRELLIS_DATA_DIR);
  let config = installConfig(withValues(loaded, { TRELLIS_DATA_DIR: dataDir }));
  const plugins = await loadPlugins(pluginSpecifiers(values.plugin));
  const registry = createNodeRegistry(plugins.nodeTypes);
  if (values.reset) await resetDataDir(dataDir);
  await ensureDataDir(dataDir);
  // Dev mode is quieter than the API by default, and pretty unless LOG_FORMAT says json.
  const logLevel = config.sources.LOG_LEVEL === 'default' ? 'warn' : config.LOG_LEVEL;
  const apiLogger = installDevLogging(logLevel, config.sources.LOG_FORMAT === 'default' ? 'pretty' : config.LOG_FORMAT);

  const cleanups: (() => Promise<unknown>)[] = [];
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    while (cleanups.length > 0) await cleanups.pop()!().catch((err: unknown) => console.error(`trellis dev: while stopping: ${String(err)}`));
  };
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  // A second Ctrl-C while stopping: leave at once.
  void stopped.then(() => process.once('SIGINT', () => process.exit(130)));
  try {
    const consoleBuild = ensureConsoleBuilt();
    let databaseUrl = config.DATABASE_URL;
    let pgNote = '(external DATABASE_URL)';
    if (!databaseUrl) {
      const pg = await startLocalPostgres(dataDir);
      cleanups.push(() => pg.stop());
      databaseUrl = pg.url;
      pgNote = `(data in ${pg.pgdata})`;
    }
    const directUrl = config.DATABASE_DIRECT_URL ?? databaseUrl;
    await migrate(directUrl);
    const db = createDb(databaseUrl, { max: config.DATABASE_POOL_MAX });
    cleanups.push(() => db.$disconnect());
    const reports = config.postgresConnections.get('reports')?.url ? {} : await ensureDemoReportsDatabase(databaseUrl);
    if (reports.url) config = installConfig(withPostgresConnection(config, 'reports', reports.url));
    cleanups.push(() => closePostgresPools());

    const demo = await startDemoTarget(config.TRELLIS_DEMO_PORT).catch((err: Error) => {
      throw new DevSetupError(`trellis dev: the demo target cannot listen on port ${config.TRELLIS_DEMO_PORT} (${err.message}); set TRELLIS_DEMO_PORT`);
    });
    cleanups.push(() => demo.close());

    // Secrets: dev mode keeps its own master key in its data directory (see dev/master-key.ts).
    const masterKey = await ensureDevMasterKey(dataDir);
    const masterKeys = masterKey.keyring;
    if (masterKey.text) config = installConfig(withValues(config, { TRELLIS_MASTER_KEY: masterKey.text }));

    const temporal = await connectTemporal(dataDir, config);
    const settings = temporal.settings;
    cleanups.push(temporal.close);
    const tracing = startTracing(config, 'dev'); // OTEL_* (off by default); before the client and the worker
    if (tracing) cleanups.push(() => tracing.shutdown());
    const client = createTemporalClient(temporal.connection, settings);
    // The Temporal UI's filters for Trellis's runs (trellis temporal setup); idempotent.
    await setupSearchAttributes(temporal.connection, settings.namespace).catch((err: Error) => console.warn(`trellis dev: search attributes not registered (${err.message})`));
    const gateway = createTemporalGateway(client, settings.taskQueue);

    const worker = await createTrellisWorker({
      connection: temporal.native,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      db,
      masterKeys,
      registry,
      options: workerTuning(config),
    });
    const running = runTrellisWorker(worker);
    cleanups.push(async () => {
      // Worker.run() also reacts to SIGINT itself: shut down only if it has not begun to.
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });
    const reconciler = startReconciler({ db, temporal: gateway, onError: (err) => stopping || console.error(`trellis dev: reconciler: ${String(err)}`) });
    cleanups.push(() => reconciler.stop());

    const events = new ExecutionEventHub({ onError: (err, context) => stopping || console.warn(`trellis dev: event hub: ${context}: ${String(err)}`) });
    await events.start(directUrl);
    cleanups.push(() => events.close());
    const consoleState = await consoleBuild;
    const catalog = registry.catalog();
    const app = await buildApp({
      db,
      temporal: gateway,
      events,
      catalog,
      masterKeys,
      logger: apiLogger,
      // The console links runs to the Temporal UI and points the examples' sampleInput at the demo target.
      console: { ...(temporal.uiUrl && { temporalUiUrl: temporal.uiUrl }), namespace: settings.namespace, demoBaseUrl: demo.baseUrl },
    });
    cleanups.push(() => app.close());
    const { HOST: host, PORT: port } = config;
    await app.listen({ host, port }).catch((err: Error) => {
      throw new DevSetupError(`trellis dev: the API cannot listen on ${host}:${port} (${err.message}); set PORT`);
    });

    const { key } = await devApiKey(db, dataDir);
    const tenantId = (await db.tenant.findUniqueOrThrow({ where: { name: 'dev' } })).id;
    const loaded = values.examples ? await loadExamples(db, tenantId, catalog) : [];
    const apiUrl = `http://${host}:${port}`;
    console.log(
      [
        '',
        `Trellis is running (state in ${dataDir}).`,
        `  API          ${apiUrl}`,
        `  Console      ${apiUrl}/ui/${consoleState.note ? `   (${consoleState.note})` : ''}`,
        `  OpenAPI      ${apiUrl}/docs`,
        `  Temporal UI  ${temporal.uiUrl ?? '(none: TEMPORAL_UI_URL not set)'}   (server ${temporal.address})`,
        `  Demo target  ${demo.baseUrl}   (echo, delay, flaky, fail; the examples' sampleInput calls it)`,
        `  Postgres     ${databaseUrl.replace(/:[^:@/]+@/, ':***@')}   ${pgNote}`,
        ...(reports.note ? [`  Note         ${reports.note}`] : []),
        ...plugins.summary.map((line) => `  Plugin       ${line}`),
        ...(loaded.length ? [`  Examples     ${loaded.join(', ')}`] : []),
        `  API key      (tenant "dev"; the same after a restart, kept in ${path.join(dataDir, 'dev-api-key')})`,
        key,
        '',
        `Ctrl-C stops everything; \`npm run dev -- --reset\` starts from scratch.`,
        '',
      ].join('\n'),
    );
    const signal = await stopped;
    console.log(`trellis dev: ${signal}, stopping`);
  } finally {
    await stopAll();
  }
  console.log('trellis dev: stopped');
}

interface TemporalHandles {
  address: string;
  settings: TemporalSettings;
  uiUrl?: string;
  native: NativeConnection;
  connection: Connection;
  close(): Promise<void>;
}

/** TEMPORAL_ADDRESS, or the Temporal CLI's dev server with its database in the data dir (runs and schedules survive a restart). */
async function connectTemporal(dataDir: string, config: TrellisConfig): Promise<TemporalHandles> {
  // A configured Temporal (TEMPORAL_ADDRESS or a profile): through envconfig, TLS and API key included.
  const configured = config.TEMPORAL_ADDRESS !== undefined || config.TEMPORAL_PROFILE !== undefined || config.TEMPORAL_CONFIG_FILE !== undefined;
  let settings = configured ? temporalSettings(config) : undefined;
  let uiUrl = config.sources.TEMPORAL_UI_URL === 'default' ? undefined : config.TEMPORAL_UI_URL;
  let env: TestWorkflowEnvironment | undefined;
  if (!settings) {
    const cli = config.TEMPORAL_CLI ?? onPath('temporal');
    try {
      env = await TestWorkflowEnvironment.createLocal({
        server: {
          ip: '127.0.0.1',
          ui: true,
          uiPort: 8233,
          dbFilename: path.join(dataDir, 'temporal.sqlite'),
          ...(cli ? { executable: { type: 'existing-path' as const, path: cli } } : {}),
        },
      });
    } catch (err) {
      const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new DevSetupError(
        `trellis dev: no Temporal server: the Temporal CLI's dev server could not be started (${why}). ` +
          'Install the `temporal` CLI (or set TEMPORAL_CLI=/path/to/temporal), or set TEMPORAL_ADDRESS=host:7233 to use a running server.',
      );
    }
    settings = temporalSettings(withValues(config, { TEMPORAL_ADDRESS: env.address }));
    uiUrl = 'http://127.0.0.1:8233';
  }
  const { address } = settings;
  const native = await NativeConnection.connect(connectionOptions(settings)).catch((err: Error) => {
    throw new DevSetupError(`trellis dev: cannot reach Temporal at ${address} (${err.message.split('\n')[0]})`);
  });
  const connection = await Connection.connect(connectionOptions(settings));
  return {
    address,
    settings,
    uiUrl,
    native,
    connection,
    close: async () => {
      await connection.close();
      await native.close();
      await env?.teardown();
    },
  };
}

/** The config with one more deployment connection of the postgres node (dev mode's demo reports database). */
function withPostgresConnection(config: TrellisConfig, name: string, url: string): TrellisConfig {
  const connections = new Map(config.postgresConnections);
  connections.set(name, { ...connections.get(name), url });
  return Object.freeze({ ...config, postgresConnections: connections });
}

function onPath(command: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() || undefined : undefined;
}

/** Stores every examples/*.json (`{ name, description, definition }`) not already there by name. */
async function loadExamples(db: ReturnType<typeof createDb>, tenantId: string, catalog: NodeCatalog): Promise<string[]> {
  const files = (await fs.readdir(EXAMPLES_DIR).catch(() => [])).filter((f) => f.endsWith('.json')).sort();
  const loaded: string[] = [];
  for (const file of files) {
    const example = JSON.parse(await fs.readFile(path.join(EXAMPLES_DIR, file), 'utf8')) as { name: string; description?: string; definition: unknown };
    const { valid, errors } = validateDefinition(example.definition, { catalog });
    if (!valid) {
      console.error(`trellis dev: skipping ${file}: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`);
      continue;
    }
    const existing = await db.workflow.findFirst({ where: { tenantId, name: example.name, archivedAt: null }, select: { id: true } });
    if (!existing) await createWorkflow(db, tenantId, example);
    loaded.push(example.name);
  }
  return loaded;
}

/** Used by the console's "new from example" and the examples test: the file with the demo target's real URL. */
export { withDemoBase };

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      const oneLine = err instanceof DevSetupError || err instanceof LocalPostgresError;
      console.error(oneLine ? (err as Error).message : err instanceof PluginError ? `trellis dev: ${err.message}` : err);
      process.exit(1);
    },
  );
}
