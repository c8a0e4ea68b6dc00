import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createNodeRegistry, type NodeRegistry } from './activities';
import { createEngineActivities, InMemoryDefinitionStore, type DefinitionStore } from './activities/engine';
import { closePostgresPools } from './activities/nodes/postgres';
import { temporalSettings } from './config';

/** Where the workflow code lives; Temporal bundles it (or loads a prebuilt bundle) at start. */
export const WORKFLOWS_PATH = path.join(__dirname, 'workflows');

export interface TrellisWorkerDeps {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  registry?: NodeRegistry;
  definitions?: DefinitionStore;
  /** Options passed through to Temporal (tuning, a prebuilt `workflowBundle`, ...). */
  options?: Partial<WorkerOptions>;
}

/** One worker serves `dagWorkflow`, the engine activities and an activity per node type. */
export async function createTrellisWorker(deps: TrellisWorkerDeps): Promise<Worker> {
  const registry = deps.registry ?? createNodeRegistry();
  const definitions = deps.definitions ?? new InMemoryDefinitionStore();
  const bundle = process.env.TRELLIS_WORKFLOW_BUNDLE;
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace ?? 'default',
    taskQueue: deps.taskQueue,
    ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: WORKFLOWS_PATH }),
    activities: { ...registry.activities(), ...createEngineActivities({ store: definitions, catalog: registry.catalog() }) },
    // Cancellation reaches an activity only through a heartbeat response; keep that short.
    defaultHeartbeatThrottleInterval: '1s',
    maxHeartbeatThrottleInterval: '5s',
    ...deps.options,
  });
}

async function main(): Promise<void> {
  const settings = temporalSettings();
  const connection = await NativeConnection.connect({ address: settings.address });
  const worker = await createTrellisWorker({ connection, namespace: settings.namespace, taskQueue: settings.taskQueue });
  // Worker.run() installs SIGINT/SIGTERM handlers that drain in-flight tasks before resolving.
  console.log(`trellis worker: task queue "${settings.taskQueue}" on ${settings.address} (${settings.namespace})`);
  try {
    await worker.run();
  } finally {
    await closePostgresPools();
    await connection.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
