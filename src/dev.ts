import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { buildApp } from './api/app';
import { createTemporalGateway } from './api/temporal-gateway';
import { createNodeRegistry } from './activities';
import { temporalSettings } from './config';
import { createDb } from './db/client';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './db/embedded-postgres';
import { migrate } from './db/migrator';
import { createApiKey } from './services/api-keys';
import { startReconciler } from './services/reconciler';
import { ExecutionEventHub } from './services/execution-events';
import { createWorkflow } from './services/workflows';
import { validateDefinition } from './domain/validate';
import type { NodeCatalog } from './domain/node-types';
import { createTrellisWorker } from './worker';
import { devDataDir, ensureDevMasterKey } from './dev-master-key';
import { clientDataConverter } from './services/payload-codec';

/** A missing prerequisite, said in one line without a stack trace. */
class DevSetupError extends Error {}

const EXAMPLES_DIR = path.join(__dirname, '..', 'examples');

/**
 * Everything in one process for a newcomer: Postgres (embedded unless DATABASE_URL), migrations,
 * Temporal (the SDK's dev server unless TEMPORAL_ADDRESS), a worker, the reconciler and the API.
 * `--examples` loads examples/*.json into the development tenant. Ctrl-C stops it all.
 */
export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { examples: { type: 'boolean', default: false } } });
  const cleanups: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch((err) => console.error(err));
  };
  try {
    let databaseUrl = process.env.DATABASE_URL;
    let pg: EmbeddedPostgresHandle | undefined;
    if (!databaseUrl) {
      pg = await startEmbeddedPostgres();
      cleanups.push(() => pg!.stop());
      databaseUrl = pg.url;
    }
    await migrate(databaseUrl);
    const db = createDb(databaseUrl);
    cleanups.push(() => db.$disconnect());
    // Secrets: dev mode keeps its own master key (see dev-master-key.ts).
    const masterKeys = await ensureDevMasterKey(devDataDir());

    const settings = temporalSettings();
    let address = process.env.TEMPORAL_ADDRESS;
    let uiUrl = process.env.TEMPORAL_UI_URL ?? 'http://127.0.0.1:8233';
    if (!address) {
      try {
        const env = await TestWorkflowEnvironment.createLocal({ server: { ip: '127.0.0.1', ui: true, uiPort: 8233 } });
        cleanups.push(() => env.teardown());
        address = env.address;
        uiUrl = 'http://127.0.0.1:8233';
      } catch (err) {
        const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
        throw new DevSetupError(
          `trellis dev: no Temporal server: the SDK's dev server could not be started (${why}). Set TEMPORAL_ADDRESS=host:7233 to use a running server.`,
        );
      }
    }
    const nativeConnection = await NativeConnection.connect({ address });
    cleanups.push(() => nativeConnection.close());
    const connection = await Connection.connect({ address });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: settings.namespace, dataConverter: clientDataConverter() });
    const temporal = createTemporalGateway(client, settings.taskQueue);

    const worker = await createTrellisWorker({ connection: nativeConnection, namespace: settings.namespace, taskQueue: settings.taskQueue, db, masterKeys });
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running;
    });
    const reconciler = startReconciler({ db, temporal, onError: (err) => console.error('reconciler:', err) });
    cleanups.push(() => reconciler.stop());

    const events = new ExecutionEventHub({ onError: (err, context) => console.warn(`event hub: ${context}:`, err) });
    await events.start(databaseUrl);
    cleanups.push(() => events.close());
    const app = await buildApp({ db, temporal, events, catalog: createNodeRegistry().catalog(), masterKeys, logger: { level: process.env.LOG_LEVEL ?? 'warn' } });
    cleanups.push(() => app.close());
    const host = process.env.HOST ?? '127.0.0.1';
    const port = Number(process.env.PORT ?? 3000);
    await app.listen({ host, port });

    const { key, tenantId } = await createApiKey(db, 'dev', 'trellis dev');
    const loaded = values.examples ? await loadExamples(db, tenantId, createNodeRegistry().catalog()) : [];
    const apiUrl = `http://${host}:${port}`;
    console.log(
      [
        '',
        `Trellis is running.`,
        `  API        ${apiUrl}   (OpenAPI: ${apiUrl}/docs)`,
        `  Temporal   ${address}   (Web UI: ${uiUrl})`,
        `  Postgres   ${databaseUrl}${pg ? '   (embedded, removed on exit)' : ''}`,
        ...(loaded.length ? [`  Examples   ${loaded.join(', ')}`] : []),
        `  Development API key (tenant "dev"):`,
        key,
        '',
      ].join('\n'),
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    console.log('trellis dev: stopping');
  } finally {
    await stopAll();
  }
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
    const id = existing?.id ?? (await createWorkflow(db, tenantId, example)).id;
    loaded.push(`${example.name} (${id})`);
  }
  return loaded;
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err instanceof DevSetupError ? err.message : err);
      process.exit(1);
    },
  );
}
