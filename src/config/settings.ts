import ipaddr from 'ipaddr.js';
import { Type } from '@sinclair/typebox';
import { SettingRejected, duration, flag, fraction, integer, list, oneOf, text, url, type Setting } from './kinds';

/**
 * Every setting a Trellis process reads from its environment, in one table (DESIGN §4, §7).
 * `loadConfig` validates them at start, `trellis config` prints them, and docs/configuration.md
 * is generated from this table (`npm run config:docs`; a test keeps the two the same).
 *
 * To add a setting: one entry here (its kind gives the parser, the docs type and the error
 * message), then read it as `config.NAME` from the process's config; the type follows.
 * Families of variables (TRELLIS_QUOTA_<NAME>, TRELLIS_PG_<NAME>_URL/_TENANTS) are in families.ts.
 */

const POSTGRES = ['postgres:', 'postgresql:'] as const;
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Fastify's `trustProxy`: `true`, a hop count, or the proxies' addresses/CIDRs. */
export type TrustProxy = boolean | number | readonly string[];

const TRUST_PROXY_EXPECTS = 'false, true, a hop count (1-10) or comma-separated proxy addresses/CIDRs';
const trustProxy: Setting<TrustProxy> & { default: TrustProxy } = {
  group: 'API',
  description:
    'Which X-Forwarded-For/-Proto/-Host headers are believed: false (none; the socket address is the client), true (every hop: only behind a proxy that overwrites the header), the number of proxy hops in front of the API, or the proxies\' addresses/CIDRs. Per-address rate limits use the client address it yields; /metrics never does (see TRELLIS_METRICS_TOKEN).',
  schema: Type.Union([Type.Boolean(), Type.Integer({ minimum: 1, maximum: 10 }), Type.Array(Type.String())]),
  expects: TRUST_PROXY_EXPECTS,
  default: false,
  parse(raw) {
    const t = raw.trim().toLowerCase();
    if (t === 'false' || t === '0') return false;
    if (t === 'true') return true;
    if (/^[0-9]{1,2}$/.test(t)) {
      const hops = Number(t);
      if (hops >= 1 && hops <= 10) return hops;
      throw new SettingRejected(TRUST_PROXY_EXPECTS);
    }
    const entries = t.split(',').map((s) => s.trim()).filter(Boolean);
    const valid = (entry: string) => (entry.includes('/') ? ipaddr.isValidCIDR(entry) : ipaddr.isValid(entry));
    if (entries.length === 0 || !entries.every(valid)) throw new SettingRejected(TRUST_PROXY_EXPECTS);
    return entries;
  },
};

export const SETTINGS = {
  // --- Database
  DATABASE_URL: url('Database', 'The Trellis Postgres database. Required by `trellis api`, `trellis worker` and `trellis migrate`; only `npm run dev` starts a Postgres of its own. May point at a transaction-mode pooler (PgBouncer) when DATABASE_DIRECT_URL is set.', POSTGRES, {
    secret: true,
    requiredBy: ['api', 'worker', 'migrate'],
  }),
  DATABASE_DIRECT_URL: url('Database', 'A direct session connection to the same database, for LISTEN (event streams, key revocations) and migrations (their advisory lock). Default: DATABASE_URL.', POSTGRES, {
    secret: true,
    defaultText: 'DATABASE_URL',
  }),
  DATABASE_POOL_MAX: integer('Database', "Connections in each process's pool (the API's and the worker's each; LISTEN and migrations take one more direct connection).", { min: 1, max: 1000 }, { default: 10 }),
  TRELLIS_MIGRATE_ON_START: flag('Database', 'Apply pending migrations when the API or a worker starts. With false, a process whose database schema is behind refuses to start and says to run `trellis migrate` (a deploy step or Job) first.', { default: true }),

  // --- Temporal (the client environment configuration of @temporalio/envconfig; the TOML profile file is read too)
  TEMPORAL_ADDRESS: text('Temporal', 'Temporal frontend host:port. Default: the profile\'s address, else 127.0.0.1:7233.', { defaultText: '127.0.0.1:7233' }),
  TEMPORAL_NAMESPACE: text('Temporal', "Temporal namespace. Default: the profile's namespace, else default.", { defaultText: 'default' }),
  TEMPORAL_API_KEY: text('Temporal', 'API key sent as a bearer token on every Temporal call (turns TLS on unless TEMPORAL_TLS=false).', { secret: true }),
  TEMPORAL_TLS: flag('Temporal', 'Connect to Temporal over TLS. Default: on when an API key or any TLS setting is given.'),
  TEMPORAL_TLS_CLIENT_CERT_PATH: text('Temporal', 'Client certificate (PEM) for mTLS.'),
  TEMPORAL_TLS_CLIENT_KEY_PATH: text('Temporal', "The client certificate's private key (PEM) for mTLS."),
  TEMPORAL_TLS_CLIENT_CERT_DATA: text('Temporal', 'The client certificate itself (PEM text) instead of a path.'),
  TEMPORAL_TLS_CLIENT_KEY_DATA: text('Temporal', 'The private key itself (PEM text) instead of a path.', { secret: true }),
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: text('Temporal', "CA certificate (PEM) that signed the server's certificate. Default: the system's roots."),
  TEMPORAL_TLS_SERVER_CA_CERT_DATA: text('Temporal', 'The CA certificate itself (PEM text) instead of a path.'),
  TEMPORAL_TLS_SERVER_NAME: text('Temporal', 'Server name to verify the certificate against (SNI), when it differs from the address host.'),
  TEMPORAL_CONFIG_FILE: text('Temporal', 'TOML client configuration file with profiles. Default: the Temporal CLI\'s (~/.config/temporalio/temporal.toml) when it exists.'),
  TEMPORAL_PROFILE: text('Temporal', 'Profile of the configuration file to use.', { defaultText: 'default' }),
  TRELLIS_TASK_QUEUE: text('Temporal', 'Task queue of the Trellis workflow and its activities.', { default: 'trellis' }),
  TEMPORAL_UI_URL: url('Temporal', 'Temporal Web UI, for the console\'s links to runs.', ['http:', 'https:'], { default: 'http://127.0.0.1:8233' }),
  TRELLIS_WORKFLOW_BUNDLE: text('Worker', 'A prebuilt workflow bundle (`npm run build:workflows`); without it the worker bundles the workflow code at start.'),

  // --- API
  HOST: text('API', 'Address the API listens on.', { default: '127.0.0.1' }),
  PORT: integer('API', 'Port the API listens on.', { min: 0, max: 65535 }, { default: 3000 }),
  LOG_LEVEL: oneOf('Observability', 'Log level of every process (pino): the API, the worker and the Temporal SDK lines routed into its logger.', LOG_LEVELS, { default: 'info', defaultText: 'info (dev mode: warn)' }),
  TRELLIS_TRUST_PROXY: trustProxy,
  TRELLIS_METRICS_TOKEN: text('API', 'Bearer token for GET /metrics. Without it /metrics is served only to connections whose socket comes from loopback (never judged by forwarded headers); behind a local reverse proxy set a token.', { secret: true }),
  TRELLIS_RATE_LIMIT_PER_MINUTE: integer('API', 'Requests per API key and minute, reads and writes counted apart (a tenant\'s own limit wins).', { min: 1, max: 10_000_000 }, { default: 600 }),
  TRELLIS_ADDRESS_RATE_LIMIT_PER_MINUTE: integer('API', 'Requests per client address and minute, before authentication.', { min: 1, max: 10_000_000 }, { default: 6_000 }),
  TRELLIS_REDIS_URL: url('API', 'Redis that the API replicas share their rate-limit buckets in (per key and per address). Without it each API process counts alone, so N replicas allow N times the limits. While Redis is unreachable requests are let through (fail open) and logged.', ['redis:', 'rediss:'], { secret: true }),
  TRELLIS_CODEC_CORS_ORIGINS: list('API', 'Browser origins (the Temporal Web UI) allowed to call /codec/*.', {
    default: ['http://localhost:8080', 'http://127.0.0.1:8080', 'http://localhost:8233', 'http://127.0.0.1:8233'],
  }),
  TRELLIS_MAX_RUNNING_PER_TENANT: integer('Limits', "Bound on each tenant's runs in progress.", { min: 1, max: 10_000_000 }, { default: 1_000 }),

  // --- Keys
  TRELLIS_MASTER_KEY: text('Keys', 'Master key of tenant secrets: 32 bytes as base64 or hex (`openssl rand -base64 32`). Without it secrets cannot be stored.', { secret: true }),
  TRELLIS_PREVIOUS_MASTER_KEYS: text('Keys', 'Comma-separated earlier master keys, still accepted for reading while secrets are re-wrapped.', { secret: true }),
  TRELLIS_PAYLOAD_KEY: text('Keys', 'Key of the Temporal payload codec (every payload encrypted, per tenant). Without it payloads are stored in clear in Temporal.', { secret: true }),
  TRELLIS_PREVIOUS_PAYLOAD_KEYS: text('Keys', 'Comma-separated earlier payload keys, still accepted for reading.', { secret: true }),

  // --- Worker
  TRELLIS_WORKER_SHUTDOWN_GRACE: duration('Worker', "On SIGTERM/SIGINT the worker stops polling and gives in-flight node attempts this long to finish and record their results (Temporal's shutdownGraceTime); attempts still running after it are cancelled and retried elsewhere.", { minMs: 0, maxMs: 86_400_000 }, { default: 30_000 }),
  TRELLIS_WORKER_MAX_ACTIVITIES: integer('Worker', "Activity task slots one worker takes from Temporal (the SDK's maxConcurrentActivityTaskExecutions). Node attempts beyond TRELLIS_WORKER_NODE_CAPACITY wait in these slots for their tenant's turn.", { min: 1, max: 100_000 }, { defaultText: '4 x TRELLIS_WORKER_NODE_CAPACITY' }),
  TRELLIS_WORKER_MAX_LOCAL_ACTIVITIES: integer('Worker', "Local activity slots of one worker (maxConcurrentLocalActivityExecutions): local node attempts waiting for their tenant's turn and the mirror's own writes.", { min: 1, max: 100_000 }, { defaultText: '4 x TRELLIS_WORKER_LOCAL_NODE_CAPACITY + 200' }),
  TRELLIS_WORKER_MAX_WORKFLOW_TASKS: integer('Worker', 'Workflow tasks one worker runs at once.', { min: 1, max: 100_000 }, { defaultText: 'SDK default (40)' }),
  TRELLIS_WORKER_NODE_CAPACITY: integer('Worker', "Node attempts in mode \"activity\" one worker runs at once, shared fairly between tenants (DESIGN §8): while tenants wait, a free place goes to the one running fewest. The worker takes 4x as many activity tasks from Temporal; the rest wait in the worker for their tenant's turn (node heartbeats carry waitingFor tenantShare).", { min: 1, max: 25_000 }, { default: 100 }),
  TRELLIS_WORKER_LOCAL_NODE_CAPACITY: integer('Worker', 'Node attempts in mode "local" one worker runs at once, shared fairly between tenants like TRELLIS_WORKER_NODE_CAPACITY; the status mirror\'s own local activities never wait behind them.', { min: 1, max: 25_000 }, { default: 100 }),
  TRELLIS_WORKER_FAIR_SHARE_RESERVE: integer('Worker', 'Places of each node capacity that no single tenant may take, so that a tenant arriving while another saturates the worker starts its first nodes at once (running nodes are never pre-empted). 0 lets a lone tenant take the whole capacity.', { min: 0, max: 25_000 }, { defaultText: 'a tenth of each capacity (at least 1)' }),
  TRELLIS_RETENTION: duration('Worker', "Finished runs (with their node runs, map items and stored outputs) are deleted this long after they end, unless their definition's `retention` says otherwise. Unset: kept until a definition says otherwise.", { minMs: 60_000, maxMs: 36_500 * 86_400_000 }, { defaultText: 'keep' }),
  TRELLIS_RETENTION_INTERVAL: duration('Worker', "How often the deployment's retention Schedule (one Temporal Schedule, whichever worker created it) runs a retention pass.", { minMs: 10_000, maxMs: 7 * 86_400_000 }, { default: 3_600_000, defaultText: '1h' }),
  TRELLIS_PLUGINS: list('Worker', 'Comma-separated node type modules (files or packages) to load; give the API and the workers the same ones (`--plugin` adds more).', { default: [] }),
  TRELLIS_HTTP_ALLOW_PRIVATE: flag('Worker', 'Let the http and postgres nodes reach loopback, private, link-local and metadata addresses.', { default: false }),
  TRELLIS_HTTP_ALLOW_LOOPBACK: flag('Worker', 'Let the http node reach loopback addresses only (dev mode allows it for its own worker).', { default: false }),

  // --- Observability (DESIGN §7)
  LOG_FORMAT: oneOf('Observability', 'json: one JSON object per line (pino), for log collectors; pretty: coloured lines for people (pino-pretty).', ['json', 'pretty'] as const, { default: 'json', defaultText: 'json (dev mode: pretty)' }),
  TRELLIS_WORKER_METRICS_PORT: integer('Observability', "Port of the worker's Prometheus endpoint (GET /metrics): Trellis's per node type metrics and the Temporal SDK's worker metrics in one scrape. Unset: no endpoint.", { min: 1, max: 65535 }),
  TRELLIS_WORKER_METRICS_HOST: text('Observability', "Address the worker's metrics endpoint listens on.", { default: '0.0.0.0' }),

  // OpenTelemetry traces: the standard OTEL_* variables (docs/operations.md, Traces)
  OTEL_TRACES_EXPORTER: oneOf('Observability', 'Where traces go: otlp (OTLP over HTTP to OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT), console (spans printed to stdout, for a look) or none. Unset: otlp when an OTLP endpoint variable is set, else none: no tracing, nothing of the SDK loaded.', ['otlp', 'console', 'none'] as const, { default: 'none', defaultText: 'none (otlp when an OTLP endpoint is set)' }),
  OTEL_EXPORTER_OTLP_ENDPOINT: url('Observability', 'Base URL of the OTLP/HTTP collector; traces go to its /v1/traces.', ['http:', 'https:'], { defaultText: 'http://localhost:4318' }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: url('Observability', 'The full OTLP/HTTP traces URL, used as given (wins over OTEL_EXPORTER_OTLP_ENDPOINT).', ['http:', 'https:'], { defaultText: 'OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces' }),
  OTEL_EXPORTER_OTLP_PROTOCOL: oneOf('Observability', 'OTLP encoding: http/protobuf or http/json (gRPC is not offered).', ['http/protobuf', 'http/json'] as const, { default: 'http/protobuf' }),
  OTEL_EXPORTER_OTLP_HEADERS: text('Observability', 'Headers sent with every export, as key=value pairs separated by commas (values percent-encoded), e.g. a collector\'s API key.', { secret: true }),
  OTEL_SERVICE_NAME: text('Observability', 'service.name of the spans a process exports.', { defaultText: 'trellis-api, trellis-worker (dev mode: trellis-dev)' }),
  OTEL_TRACES_SAMPLER: oneOf('Observability', 'Which traces are recorded, as the OpenTelemetry SDKs read it: always_on, always_off, traceidratio (a share OTEL_TRACES_SAMPLER_ARG of traces, by trace id), or parentbased_* (follow the caller\'s sampled flag, and use the rest of the name for traces this process starts). A run started by a Temporal Schedule begins its trace inside the workflow, which records it whatever this says.', ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const, { default: 'parentbased_always_on' }),
  OTEL_TRACES_SAMPLER_ARG: fraction('Observability', 'The ratio of traceidratio and parentbased_traceidratio, from 0 (none) to 1 (all).', { default: 1 }),
  OTEL_RESOURCE_ATTRIBUTES: text('Observability', 'More resource attributes of every span, as key=value pairs separated by commas (e.g. deployment.environment=prod).'),

  // --- Development mode (npm run dev)
  TRELLIS_DATA_DIR: text('Development', 'Where `npm run dev` keeps its Postgres, Temporal database, API key and master key.', { defaultText: './.trellis' }),
  TRELLIS_DEMO_PORT: integer('Development', 'Port of the dev mode demo HTTP target.', { min: 0, max: 65535 }, { default: 4100 }),
  TEMPORAL_CLI: text('Development', 'Path of the `temporal` CLI whose dev server `npm run dev` starts when TEMPORAL_ADDRESS is unset. Default: `temporal` on PATH.'),

  // --- CLI
  TRELLIS_DEBUG: flag('CLI', 'Print stack traces of CLI errors.', { default: false }),
} satisfies Record<string, Setting<unknown>>;

export type SettingName = keyof typeof SETTINGS;

type ValueOf<S> = S extends { default: infer D } ? (S extends Setting<infer T> ? (D extends T ? T : T) : never) : S extends Setting<infer T> ? T | undefined : never;

/** The validated settings of one process, keyed by variable name. */
export type SettingValues = { readonly [K in SettingName]: ValueOf<(typeof SETTINGS)[K]> };
