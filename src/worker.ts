import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createNodeRegistry, type NodeRegistry } from './activities';
import { createEngineActivities, InMemoryDefinitionStore, type DefinitionStore } from './activities/engine';
import { createMirrorActivities } from './activities/mirror';
import { PrismaOutputStore } from './activities/output-store';
import { closePostgresPools } from './activities/nodes/postgres';
import { createTemporalGateway } from './api/temporal-gateway';
import { temporalSettings } from './config';
import { createDb, type Db } from './db/client';
import { migrate } from './db/migrator';
import { PrismaDefinitionStore } from './services/definition-store';
import { startReconciler } from './services/reconciler';
import type { MirrorActivities } from './workflows/mirror-contract';

/** Where the workflow code lives; Temporal bundles it (or loads a prebuilt bundle) at start. */
export const WORKFLOWS_PATH = path.join(__dirname, 'workflows');

export interface TrellisWorkerDeps {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  registry?: NodeRegistry;
  /** Postgres: stored definitions and the status mirror. Without it runs pass `definition` inline and are not mirrored. */
  db?: Db;
  /** Overrides where definitions come from (tests embed the engine without a database). */
  definitions?: DefinitionStore;
  /** Options passed through to Temporal (tuning, a prebuilt `workflowBundle`, ...). */
  options?: Partial<WorkerOptions>;
}

/** Without a database there is nothing to mirror into: recordRun says so and the run skips the mirror. */
const MIRROR_OFF: MirrorActivities = {
  recordRun: async () => false,
  mirrorTransitions: async () => {
    throw new Error('the status mirror needs a database');
  },
};

/** One worker serves `dagWorkflow`, the engine and mirror activities and an activity per node type. */
export async function createTrellisWorker(deps: TrellisWorkerDeps): Promise<Worker> {
  const registry = deps.registry ?? createNodeRegistry();
  const definitions = deps.definitions ?? (deps.db ? new PrismaDefinitionStore(deps.db) : new InMemoryDefinitionStore());
  const bundle = process.env.TRELLIS_WORKFLOW_BUNDLE;
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace ?? 'default',
    taskQueue: deps.taskQueue,
    ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: WORKFLOWS_PATH }),
    activities: {
      ...registry.activities(deps.db ? new PrismaOutputStore(deps.db) : undefined),
      ...createEngineActivities({ store: definitions, catalog: registry.catalog() }),
      ...(deps.db ? createMirrorActivities(deps.db) : MIRROR_OFF),
    },
    // Cancellation reaches an activity only through a heartbeat response; keep that short. The
    // cap also keeps heartbeats well inside the default heartbeat timeout (5 intervals): the SDK
    // would otherwise throttle to 80% of that timeout.
    defaultHeartbeatThrottleInterval: '1s',
    maxHeartbeatThrottleInterval: '1s',
    ...deps.options,
  });
}

/** The worker process: migrations, the worker itself, and the reconciler beside it. */
export async function main(): Promise<void> {
  const settings = temporalSettings();
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is required for the worker (stored workflows and the status mirror)');
  await migrate(databaseUrl);
  const db = createDb(databaseUrl);
  const connection = await NativeConnection.connect({ address: settings.address });
  const client = new Client({ connection: await Connection.connect({ address: settings.address }), namespace: settings.namespace });
  const worker = await createTrellisWorker({ connection, namespace: settings.namespace, taskQueue: settings.taskQueue, db });
  const reconciler = startReconciler({
    db,
    temporal: createTemporalGateway(client, settings.taskQueue),
    onError: (err) => console.error('reconciler:', err),
  });
  // Worker.run() installs SIGINT/SIGTERM handlers that drain in-flight tasks before resolving.
  console.log(`trellis worker: task queue "${settings.taskQueue}" on ${settings.address} (${settings.namespace})`);
  try {
    await worker.run();
  } finally {
    await reconciler.stop();
    await closePostgresPools();
    await db.$disconnect();
    await client.connection.close();
    await connection.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
