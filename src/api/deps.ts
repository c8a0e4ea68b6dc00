import type { Redis } from 'ioredis';
import type { Db } from '../db/client';
import type { NodeCatalog } from '../domain/node-types';
import type { TemporalGateway } from '../temporal/gateway';
import type { ExecutionEventHub } from '../persistence/execution-event-hub';
import type { Keyring } from '../crypto/keyring';
import type { PayloadCodec } from '@temporalio/common';
import type { ExecutionAdmission } from '../services/execution-admission';
import type { TrellisConfig, TrustProxy } from '../config';

export interface ApiLimits {
  /** Largest request body in bytes (413 past it). */
  bodyLimit: number;
  /** Largest definition in bytes once serialized (400 past it). */
  definitionBytes: number;
  /**
   * Requests per API key per minute, counted separately for reads (GET) and writes (429 past
   * it); a tenant's own `rate_limit_per_minute` overrides it. TRELLIS_RATE_LIMIT_PER_MINUTE sets it.
   */
  rateLimitPerMinute: number;
  /** Requests per client address per minute, before authentication. */
  addressRateLimitPerMinute: number;
  /** Largest page a list returns. */
  maxPageSize: number;
  /**
   * How long a process keeps an API-key lookup (ms). With the event hub (`events`) a revocation
   * drops the entry on every process at once and this only bounds a missed notice; without it a
   * revoked key keeps working for at most this long on each API process that saw it. 0 looks
   * every request up.
   */
  apiKeyCacheMs: number;
}

export const DEFAULT_LIMITS: ApiLimits = {
  bodyLimit: 1024 * 1024,
  definitionBytes: 512 * 1024,
  rateLimitPerMinute: 600,
  addressRateLimitPerMinute: 6_000,
  maxPageSize: 100,
  apiKeyCacheMs: 5_000,
};

/** Limits an operator sets through the environment (TRELLIS_RATE_LIMIT_PER_MINUTE, TRELLIS_ADDRESS_RATE_LIMIT_PER_MINUTE; validated by the config). */
export function limitsFromConfig(config: Pick<TrellisConfig, 'TRELLIS_RATE_LIMIT_PER_MINUTE' | 'TRELLIS_ADDRESS_RATE_LIMIT_PER_MINUTE'>): Partial<ApiLimits> {
  return { rateLimitPerMinute: config.TRELLIS_RATE_LIMIT_PER_MINUTE, addressRateLimitPerMinute: config.TRELLIS_ADDRESS_RATE_LIMIT_PER_MINUTE };
}

/** What the API needs from the outside world; `buildApp` wires nothing itself. */
export interface AppDeps {
  db: Db;
  temporal: TemporalGateway;
  /** Node types this deployment knows (built-ins plus registered activity types). */
  catalog: NodeCatalog;
  limits?: Partial<ApiLimits>;
  /** Fastify logger option; false in tests. */
  logger?: boolean | object;
  /** Mirror NOTIFY fan-out for GET /executions/:id/events; without it that route answers 503. */
  events?: ExecutionEventHub;
  /** Master keys for tenant secrets (TRELLIS_MASTER_KEY); without them PUT /secrets answers 503. */
  masterKeys?: Keyring;
  /** The Temporal payload codec (TRELLIS_PAYLOAD_KEY) served at /codec/*; without it those answer 503. */
  payloadCodec?: PayloadCodec;
  /** Browser origins (the Temporal Web UI) allowed to call /codec/*. */
  codecCorsOrigins?: string[];
  /** Redis for rate-limit buckets shared by all API replicas (TRELLIS_REDIS_URL); without it, per process. */
  rateLimitRedis?: Redis;
  /** Bounds each tenant's runs in progress (exact, in Postgres); buildApp makes one from TRELLIS_MAX_RUNNING_PER_TENANT when absent. */
  executionAdmission?: ExecutionAdmission;
  /**
   * Fastify's trustProxy (TRELLIS_TRUST_PROXY): which X-Forwarded-* headers are believed for
   * `request.ip` (per-address rate limits). Default false: the socket address is the client.
   */
  trustProxy?: TrustProxy;
  /** TRELLIS_METRICS_TOKEN: the bearer token /metrics requires; without it only direct loopback connections. */
  metricsToken?: string;
  /** What the console's /ui/config.json says (dev mode: its Temporal UI and demo target). */
  console?: { temporalUiUrl?: string; namespace?: string; demoBaseUrl?: string };
}
