import type { Db } from '../db/client';
import type { NodeCatalog } from '../domain/node-types';
import type { TemporalGateway } from './temporal-gateway';
import type { ExecutionEventHub } from '../services/execution-events';

export interface ApiLimits {
  /** Largest request body in bytes (413 past it). */
  bodyLimit: number;
  /** Largest definition in bytes once serialized (400 past it). */
  definitionBytes: number;
  /** Requests per key (or per client address without one) per minute (429 past it). */
  rateLimitPerMinute: number;
  /** Largest page a list returns. */
  maxPageSize: number;
  /**
   * How long a process keeps an API-key lookup (ms): a revoked key keeps working for at most
   * this long on each API process that saw it. 0 looks every request up.
   */
  apiKeyCacheMs: number;
}

export const DEFAULT_LIMITS: ApiLimits = {
  bodyLimit: 1024 * 1024,
  definitionBytes: 512 * 1024,
  rateLimitPerMinute: 600,
  maxPageSize: 100,
  apiKeyCacheMs: 5_000,
};

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
}
