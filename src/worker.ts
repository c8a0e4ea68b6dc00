import fs from 'node:fs';
import { deploymentQuotas } from './db/quotas';
import { QuotaSettingInvalid } from './domain/quotas';
import path from 'node:path';
import v8 from 'node:v8';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { PayloadCodec } from '@temporalio/common';
import { createNodeRegistry, loadPlugins, pluginSpecifiers, PluginError, type NodeRegistry } from './activities';
import { createEngineActivities, InMemoryDefinitionStore, type DefinitionStore } from './activities/engine';
import { createMirrorActivities } from './activities/mirror';
import { createIterationStoreActivities } from './activities/iteration-store';
import { createMapItemsActivities } from './activities/map-items-mirror';
import { createTenantClaimActivities } from './activities/tenant-claims';
import { createLimiterActivities } from './activities/limiter';
import { withNodeResultMirror } from './activities/node-result-mirror';
import { PrismaOutputStore } from './activities/output-store';
import { closePostgresPools } from './activities/nodes/postgres';
import { usePostgresTenantNames } from './activities/nodes/pg-deployment-access';
import { connectTemporalClient } from './temporal/client';
import { createTemporalGateway } from './temporal/gateway';
import { processConfig, setting, temporalSettings } from './config';
import { createRetentionActivities } from './activities/retention';
import { ensureRetentionSchedule } from './services/retention-schedule';
import { createDb, type Db } from './db/client';
import { migrate } from './db/migrator';
import { PrismaDefinitionStore, PrismaExecutionLimiter } from './persistence/definition-store';
import { startReconciler } from './persistence/reconciler';
import type { Keyring } from './crypto/keyring';
import { assertSecretsReadable, masterKeyring, secretSource } from './services/secrets';
import { ENCODED_FAILURE_CONVERTER_PATH, payloadCodec } from './crypto/payload-codec';
import { databaseTenantLookup, PROCESS_PAYLOAD_TENANTS } from './crypto/payload-tenants';
import type { MirrorActivities } from './contracts/mirror';

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
  /** Master keys for tenant secrets; defaults to TRELLIS_MASTER_KEY (needs `db`). */
  masterKeys?: Keyring;
  /** Encrypts every payload (defaults to TRELLIS_PAYLOAD_KEY); null turns it off whatever the environment says. */
  payloadCodec?: PayloadCodec | null;
  /** TRELLIS_RETENTION in ms for the retention activities (null: keep); default: the environment's. */
  retentionMs?: number | null;
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

/**
 * Stack frames per trace in the workflow threads. The SDK's sandbox records a stack trace for
 * every promise workflow code creates (for the stack-trace query), mapping each frame through
 * the bundle's source map; a map item's trip through the interpreter creates a few dozen
 * promises, and those traces were the largest cost of a map in the workflow thread (see
 * docs/benchmarks.md). The sandbox freezes `Error`, so the limit is V8's default for contexts
 * created from here on: the workflow threads. This thread keeps its own limit (activities and
 * the API log full stacks). No command depends on a stack: histories replay as before.
 */
export const WORKFLOW_STACK_FRAMES = 4;

/** One worker serves `dagWorkflow`, the engine and mirror activities and an activity per node type. */
export async function createTrellisWorker(deps: TrellisWorkerDeps): Promise<Worker> {
  v8.setFlagsFromString(`--stack-trace-limit=${WORKFLOW_STACK_FRAMES}`);
  const registry = deps.registry ?? createNodeRegistry();
  const outputs = deps.db ? new PrismaOutputStore(deps.db) : undefined;
  const definitions = deps.definitions ?? (deps.db ? new PrismaDefinitionStore(deps.db) : new InMemoryDefinitionStore());
  const codec = deps.payloadCodec === undefined ? payloadCodec() : (deps.payloadCodec ?? undefined);
  const bundle = workflowBundlePath(process.env.TRELLIS_WORKFLOW_BUNDLE, codec !== undefined);
  // TRELLIS_PG_<NAME>_TENANTS lists tenant names; the postgres node knows only the run's tenant id.
  if (deps.db) {
    const db = deps.db;
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
    usePostgresTenantNames(async (id) => (uuid.test(id) ? (await db.tenant.findUnique({ where: { id }, select: { name: true } }))?.name : undefined));
    // The payload codec seals each run's payloads for its tenant, looked up here on a cache miss.
    PROCESS_PAYLOAD_TENANTS.useLookup(databaseTenantLookup(db));
  }
  const nodeActivities = withNodeResultMirror(deps.db, registry.activities(outputs, deps.db ? secretSource(deps.db, deps.masterKeys ?? masterKeyring()) : undefined));
  const workerActivities = {
    ...createIterationStoreActivities(outputs),
    ...createMapItemsActivities(deps.db),
    ...createEngineActivities({ store: definitions, catalog: registry.catalog(), ...(deps.db && { limiter: new PrismaExecutionLimiter(deps.db) }) }),
    ...(deps.db ? createMirrorActivities(deps.db) : MIRROR_OFF),
    ...(deps.db && createRetentionActivities(deps.db, deps.retentionMs !== undefined ? deps.retentionMs : (setting('TRELLIS_RETENTION') ?? null))),
    ...createTenantClaimActivities(deps.db),
    ...createLimiterActivities(),
  };
  // A node type (a plugin's, say) named like one of the worker's own activities would be
  // silently replaced by it, or replace it: refuse to start instead.
  const clash = Object.keys(nodeActivities).find((type) => Object.hasOwn(workerActivities, type));
  if (clash !== undefined) throw new PluginError(`node type "${clash}" has the name of one of the worker's own activities; rename it`);
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace ?? 'default',
    taskQueue: deps.taskQueue,
    ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: WORKFLOWS_PATH }),
    ...(codec && { dataConverter: { payloadCodecs: [codec], failureConverterPath: ENCODED_FAILURE_CONVERTER_PATH } }),
    activities: { ...nodeActivities, ...workerActivities },
    // Cancellation reaches an activity only through a heartbeat response; keep that short. The
    // cap also keeps heartbeats well inside the default heartbeat timeout (5 intervals): the SDK
    // would otherwise throttle to 80% of that timeout.
    defaultHeartbeatThrottleInterval: '1s',
    maxHeartbeatThrottleInterval: '1s',
    ...deps.options,
  });
}

/**
 * A prebuilt bundle has its failure converter compiled in; with the payload codec on, the
 * worker takes the sibling bundle built with the encoding one (see build-workflow-bundle.ts).
 */
function workflowBundlePath(bundle: string | undefined, encoded: boolean): string | undefined {
  if (!bundle || !encoded) return bundle;
  const sibling = bundle.replace(/\.js$/, '') + ENCODED_BUNDLE_SUFFIX;
  if (fs.existsSync(sibling)) return sibling;
  console.warn(`trellis worker: ${sibling} not found; workflow failure messages will not be encrypted (rebuild with npm run build:workflows)`);
  return bundle;
}

export const ENCODED_BUNDLE_SUFFIX = '.encoded-failures.js';

/**
 * The worker process: migrations, the worker itself, and the reconciler beside it. Plugins
 * (`--plugin`, TRELLIS_PLUGINS) load first, so a broken one stops it before anything opens.
 */
export async function main(options: { plugins?: string[] } = {}): Promise<void> {
  deploymentQuotas(); // TRELLIS_QUOTA_*: a bad value stops the process here, naming the variable
  const plugins = await loadPlugins(pluginSpecifiers(options.plugins));
  const settings = temporalSettings(processConfig());
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is required for the worker (stored workflows and the status mirror)');
  await migrate(databaseUrl);
  const db = createDb(databaseUrl);
  const masterKeys = masterKeyring();
  await assertSecretsReadable(db, masterKeys, 'trellis worker');
  const connection = await NativeConnection.connect({ address: settings.address });
  const client = await connectTemporalClient(settings);
  const registry = createNodeRegistry(plugins.nodeTypes);
  const worker = await createTrellisWorker({ connection, namespace: settings.namespace, taskQueue: settings.taskQueue, db, masterKeys, registry });
  const reconciler = startReconciler({
    db,
    temporal: createTemporalGateway(client, settings.taskQueue),
    // Once per deployment: the worker holding the reconciler lock does it; the others stand by.
    leaderLockUrl: setting('DATABASE_DIRECT_URL') ?? databaseUrl,
    onError: (err) => console.error('reconciler:', err),
  });
  // Retention on the deployment's one Temporal Schedule (created or updated by each worker start).
  await ensureRetentionSchedule(client, settings.taskQueue, setting('TRELLIS_RETENTION_INTERVAL'));
  // Worker.run() installs SIGINT/SIGTERM handlers that drain in-flight tasks before resolving.
  for (const line of plugins.summary) console.log(`trellis worker: plugin ${line}`);
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
    console.error(err instanceof PluginError || err instanceof QuotaSettingInvalid ? `trellis worker: ${err.message}` : err);
    process.exit(1);
  });
}
