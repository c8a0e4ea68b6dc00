import fs from 'node:fs';
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
import { NodeResultMirror } from './activities/node-result-mirror';
import { fairShareWorker, withFairShare, type FairShareCapacity } from './activities/fair-share';
import { PrismaOutputStore } from './activities/output-store';
import { closePostgresPools } from './activities/nodes/postgres';
import { usePostgresTenantNames } from './activities/nodes/pg-deployment-access';
import { connectTemporalClient } from './temporal/client';
import { createTemporalGateway } from './temporal/gateway';
import { ConfigError, TemporalConnectError, connectionOptions, installConfig, loadConfig, processEnvironment, setting, temporalSettings, type TrellisConfig } from './config';
import { createRetentionActivities } from './activities/retention';
import { ensureRetentionSchedule } from './services/retention-schedule';
import { createDb, type Db } from './db/client';
import { databaseUrls, prepareSchema, SchemaBehind } from './db/startup';
import { PrismaDefinitionStore, PrismaExecutionLimiter } from './persistence/definition-store';
import { createDroppedStartActivities } from './activities/dropped-starts';
import { startReconciler } from './persistence/reconciler';
import type { Keyring } from './crypto/keyring';
import { assertSecretsReadable, masterKeyring, secretSource } from './services/secrets';
import { ENCODED_FAILURE_CONVERTER_PATH, payloadCodec } from './crypto/payload-codec';
import { databaseTenantLookup, PROCESS_PAYLOAD_TENANTS } from './crypto/payload-tenants';
import type { MirrorActivities } from './contracts/mirror';
import { createLogger } from './observability/logger';
import { logContextInterceptor } from './observability/log-context';
import type { WorkerMetrics } from './observability/worker-metrics';
import { installWorkerTelemetry } from './observability/worker-telemetry';
import { startTracing, tracedWorkerOptions } from './observability/tracing';
import type { Logger } from 'pino';

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
  /** Per node type metrics (TRELLIS_WORKER_METRICS_PORT); without it nothing is measured. */
  metrics?: WorkerMetrics;
  /** Where the worker's own lines go (the SDK's go to the Runtime's logger); default console. */
  logger?: Pick<Logger, 'warn'>;
  /** Node capacities shared fairly between tenants; default TRELLIS_WORKER_(LOCAL_)NODE_CAPACITY, TRELLIS_WORKER_FAIR_SHARE_RESERVE. */
  fairShare?: FairShareCapacity;
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
  const bundle = workflowBundlePath(setting('TRELLIS_WORKFLOW_BUNDLE'), codec !== undefined, deps.logger);
  // TRELLIS_PG_<NAME>_TENANTS lists tenant names; the postgres node knows only the run's tenant id.
  if (deps.db) {
    const db = deps.db;
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
    usePostgresTenantNames(async (id) => (uuid.test(id) ? (await db.tenant.findUnique({ where: { id }, select: { name: true } }))?.name : undefined));
    // The payload codec seals each run's payloads for its tenant, looked up here on a cache miss.
    PROCESS_PAYLOAD_TENANTS.useLookup(databaseTenantLookup(db));
  }
  const nodeResults = deps.db
    ? new NodeResultMirror(deps.db, (err) => (deps.logger ?? console).warn(`node results not written ahead to the mirror (the workflow writes them): ${String(err)}`))
    : undefined;
  // Node work passes the fair-share gates; the worker's own activities below never do.
  const fairShare = fairShareWorker(deps.fairShare ?? fairShareCapacity());
  const gated = withFairShare(fairShare.gates, registry.activities(outputs, deps.db ? secretSource(deps.db, deps.masterKeys ?? masterKeyring()) : undefined));
  const measured = nodeResults ? nodeResults.wrap(gated) : gated;
  const nodeActivities = deps.metrics ? deps.metrics.wrapNodeActivities(measured) : measured;
  const mapItems = createMapItemsActivities(deps.db);
  const limiter = createLimiterActivities();
  const workerActivities = {
    ...createIterationStoreActivities(outputs),
    ...(deps.metrics ? deps.metrics.wrapMapItems(mapItems) : mapItems),
    ...createEngineActivities({ store: definitions, catalog: registry.catalog(), ...(deps.db && { limiter: new PrismaExecutionLimiter(deps.db) }) }),
    ...(deps.db ? createMirrorActivities(deps.db) : MIRROR_OFF),
    ...(deps.db && createRetentionActivities(deps.db, deps.retentionMs !== undefined ? deps.retentionMs : (setting('TRELLIS_RETENTION') ?? null))),
    ...createTenantClaimActivities(deps.db),
    ...(deps.metrics ? deps.metrics.wrapLimiter(limiter) : limiter),
    ...createDroppedStartActivities(deps.db, () => deps.metrics?.countDroppedStart()),
  };
  // A node type (a plugin's, say) named like one of the worker's own activities would be
  // silently replaced by it, or replace it: refuse to start instead.
  const clash = Object.keys(nodeActivities).find((type) => Object.hasOwn(workerActivities, type));
  if (clash !== undefined) throw new PluginError(`node type "${clash}" has the name of one of the worker's own activities; rename it`);
  const worker = await Worker.create(tracedWorkerOptions({
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
    ...workerSlotOptions(slotSettings(), fairShare.options),
    ...deps.options,
    // Every node attempt's log lines carry executionId, nodeId, tenantId and attempt.
    interceptors: { ...deps.options?.interceptors, activity: [logContextInterceptor, ...(deps.options?.interceptors?.activity ?? [])] },
  }));
  if (nodeResults) RESULT_QUEUES.set(worker, nodeResults);
  return worker;
}

/** Each worker's queue of node results written ahead to the mirror, drained after it stops. */
const RESULT_QUEUES = new WeakMap<Worker, NodeResultMirror>();

/**
 * Runs the worker until it stops (Worker.run() stops on SIGINT/SIGTERM: no more polling, in-flight
 * attempts get `shutdownGraceTime` to finish and report), then writes out the node results still
 * queued for the mirror, so a graceful stop loses none of them.
 */
export async function runTrellisWorker(worker: Worker): Promise<void> {
  try {
    await worker.run();
  } finally {
    await RESULT_QUEUES.get(worker)?.idle();
  }
}

/**
 * What a worker process passes on top of createTrellisWorker's own options: the shutdown grace.
 * (The slot counts are not here: createTrellisWorker takes them from workerSlotOptions.)
 */
export function workerTuning(config: Pick<TrellisConfig, 'TRELLIS_WORKER_SHUTDOWN_GRACE'>): Partial<WorkerOptions> {
  return { shutdownGraceTime: config.TRELLIS_WORKER_SHUTDOWN_GRACE };
}

/** The settings that become the SDK's slot counts. */
export type WorkerSlotSettings = Pick<TrellisConfig, 'TRELLIS_WORKER_MAX_ACTIVITIES' | 'TRELLIS_WORKER_MAX_LOCAL_ACTIVITIES' | 'TRELLIS_WORKER_MAX_WORKFLOW_TASKS'>;

/**
 * The SDK's slot counts, in one place: fair share's (enough activity and local-activity slots for
 * every attempt waiting at its gates, derived from the node capacities), each replaced by its
 * TRELLIS_WORKER_MAX_* when set; workflow task slots stay the SDK's default unless set.
 */
export function workerSlotOptions(
  settings: WorkerSlotSettings,
  fairShareSlots: { maxConcurrentActivityTaskExecutions: number; maxConcurrentLocalActivityExecutions: number },
): Pick<WorkerOptions, 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentLocalActivityExecutions' | 'maxConcurrentWorkflowTaskExecutions'> {
  return {
    maxConcurrentActivityTaskExecutions: settings.TRELLIS_WORKER_MAX_ACTIVITIES ?? fairShareSlots.maxConcurrentActivityTaskExecutions,
    maxConcurrentLocalActivityExecutions: settings.TRELLIS_WORKER_MAX_LOCAL_ACTIVITIES ?? fairShareSlots.maxConcurrentLocalActivityExecutions,
    ...(settings.TRELLIS_WORKER_MAX_WORKFLOW_TASKS !== undefined && { maxConcurrentWorkflowTaskExecutions: settings.TRELLIS_WORKER_MAX_WORKFLOW_TASKS }),
  };
}

/** This process's slot settings (the installed config, else the environment's now). */
function slotSettings(): WorkerSlotSettings {
  return {
    TRELLIS_WORKER_MAX_ACTIVITIES: setting('TRELLIS_WORKER_MAX_ACTIVITIES'),
    TRELLIS_WORKER_MAX_LOCAL_ACTIVITIES: setting('TRELLIS_WORKER_MAX_LOCAL_ACTIVITIES'),
    TRELLIS_WORKER_MAX_WORKFLOW_TASKS: setting('TRELLIS_WORKER_MAX_WORKFLOW_TASKS'),
  };
}

type CapacitySettings = Pick<TrellisConfig, 'TRELLIS_WORKER_NODE_CAPACITY' | 'TRELLIS_WORKER_LOCAL_NODE_CAPACITY' | 'TRELLIS_WORKER_FAIR_SHARE_RESERVE'>;

/** The node capacities fair share divides between tenants; default: this process's settings. */
export function fairShareCapacity(
  settings: CapacitySettings = {
    TRELLIS_WORKER_NODE_CAPACITY: setting('TRELLIS_WORKER_NODE_CAPACITY'),
    TRELLIS_WORKER_LOCAL_NODE_CAPACITY: setting('TRELLIS_WORKER_LOCAL_NODE_CAPACITY'),
    TRELLIS_WORKER_FAIR_SHARE_RESERVE: setting('TRELLIS_WORKER_FAIR_SHARE_RESERVE'),
  },
): FairShareCapacity {
  const reserve = settings.TRELLIS_WORKER_FAIR_SHARE_RESERVE;
  return { activity: settings.TRELLIS_WORKER_NODE_CAPACITY, local: settings.TRELLIS_WORKER_LOCAL_NODE_CAPACITY, ...(reserve !== undefined && { reserve }) };
}

/**
 * A prebuilt bundle has its failure converter compiled in; with the payload codec on, the
 * worker takes the sibling bundle built with the encoding one (see build-workflow-bundle.ts).
 */
function workflowBundlePath(bundle: string | undefined, encoded: boolean, logger: Pick<Logger, 'warn'> = { warn: (line: string) => console.warn(line) } as Pick<Logger, 'warn'>): string | undefined {
  if (!bundle || !encoded) return bundle;
  const sibling = bundle.replace(/\.js$/, '') + ENCODED_BUNDLE_SUFFIX;
  if (fs.existsSync(sibling)) return sibling;
  logger.warn(`trellis worker: ${sibling} not found; workflow failure messages will not be encrypted (rebuild with npm run build:workflows)`);
  return bundle;
}

export const ENCODED_BUNDLE_SUFFIX = '.encoded-failures.js';

/**
 * The worker process: settings (validated; DATABASE_URL required), the schema (migrated, or
 * checked when migrations are a deploy step), the worker itself and the reconciler beside it.
 * Plugins (`--plugin`, TRELLIS_PLUGINS) load first, so a broken one stops it before anything opens.
 * SIGTERM/SIGINT stop it gracefully (see runTrellisWorker and TRELLIS_WORKER_SHUTDOWN_GRACE).
 */
export async function main(options: { plugins?: string[]; config?: TrellisConfig } = {}): Promise<void> {
  const config = installConfig(options.config ?? loadConfig(processEnvironment(), { role: 'worker' }));
  const plugins = await loadPlugins(pluginSpecifiers(options.plugins));
  const settings = temporalSettings(config);
  // JSON lines (LOG_FORMAT=pretty for people); the SDK's lines and metrics go through the same runtime.
  const logger = createLogger({ name: 'trellis-worker', level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  for (const name of config.unknown) logger.warn(`${name} is not a Trellis setting (ignored; a typo?)`);
  const telemetry = await installWorkerTelemetry({ logger, metricsPort: config.TRELLIS_WORKER_METRICS_PORT, metricsHost: config.TRELLIS_WORKER_METRICS_HOST });
  // Whatever opened is closed again, also when the start fails half-way: Temporal's runtime and
  // the pools keep the process alive otherwise (a worker refusing to start would hang, not exit).
  const tracing = startTracing(config, 'worker'); // OTEL_* (off by default)
  const cleanups: (() => Promise<unknown>)[] = [() => telemetry.close(), async () => tracing?.shutdown()];
  try {
    const urls = databaseUrls(config);
    await prepareSchema(config, 'trellis worker');
    const db = createDb(urls.url, { max: config.DATABASE_POOL_MAX });
    cleanups.push(() => db.$disconnect(), () => closePostgresPools());
    const masterKeys = masterKeyring();
    await assertSecretsReadable(db, masterKeys, 'trellis worker');
    const connection = await NativeConnection.connect(connectionOptions(settings)).catch((err: unknown) => {
      throw new TemporalConnectError(settings, err);
    });
    cleanups.push(() => connection.close());
    const client = await connectTemporalClient(settings);
    cleanups.push(() => client.connection.close());
    const registry = createNodeRegistry(plugins.nodeTypes);
    const worker = await createTrellisWorker({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      db,
      masterKeys,
      registry,
      metrics: telemetry.metrics,
      logger,
      options: workerTuning(config),
    });
    const reconciler = startReconciler({
      db,
      temporal: createTemporalGateway(client, settings.taskQueue),
      // Once per deployment: the worker holding the reconciler lock does it; the others stand by.
      leaderLockUrl: urls.directUrl,
      onError: (err) => logger.error({ err }, 'reconciler failed'),
    });
    cleanups.push(() => reconciler.stop());
    // Retention on the deployment's one Temporal Schedule (created or updated by each worker start).
    await ensureRetentionSchedule(client, settings.taskQueue, config.TRELLIS_RETENTION_INTERVAL);
    for (const line of plugins.summary) logger.info(`plugin ${line}`);
    logger.info({ taskQueue: settings.taskQueue, address: settings.address, namespace: settings.namespace }, 'worker started');
    const announce = (signal: string) => () =>
      logger.info({ signal }, `no new tasks; in-flight node attempts have ${config.TRELLIS_WORKER_SHUTDOWN_GRACE} ms to finish`);
    process.once('SIGTERM', announce('SIGTERM'));
    process.once('SIGINT', announce('SIGINT'));
    await runTrellisWorker(worker);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err) => logger.warn({ err }, 'closing on stop failed'));
  }
  logger.info('worker stopped');
}

if (require.main === module) {
  main().catch((err) => {
    const operatorError = err instanceof PluginError || err instanceof ConfigError || err instanceof SchemaBehind || err instanceof TemporalConnectError;
    console.error(operatorError ? `trellis worker: ${(err as Error).message}` : err);
    process.exit(1);
  });
}
