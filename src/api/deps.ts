import type { Db } from '../db/client';
import type { NodeCatalog } from '../domain/node-types';
import type { TemporalGateway } from './temporal-gateway';
import type { ExecutionEventHub } from '../services/execution-events';
import type { Keyring } from '../services/keyring';
import type { PayloadCodec } from '@temporalio/common';

export interface ApiLimits {
  /** Largest request body in bytes (413 past it). */
  bodyLimit: number;
  /** Largest definition in bytes once serialized (400 past it). */
  definitionBytes: number;
  /** Requests per key (or per client address without one) per minute (429 past it). */
  rateLimitPerMinute: number;
  /** Largest page a list returns. */
  maxPageSize: number;
}

export const DEFAULT_LIMITS: ApiLimits = {
  bodyLimit: 1024 * 1024,
  definitionBytes: 512 * 1024,
  rateLimitPerMinute: 600,
  maxPageSize: 100,
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
  /** Master keys for tenant secrets (TRELLIS_MASTER_KEY); without them PUT /secrets answers 503. */
  masterKeys?: Keyring;
  /** The Temporal payload codec (TRELLIS_PAYLOAD_KEY) served at /codec/*; without it those answer 503. */
  payloadCodec?: PayloadCodec;
  /** Browser origins (the Temporal Web UI) allowed to call /codec/*. */
  codecCorsOrigins?: string[];
}
