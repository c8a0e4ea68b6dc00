import { Type, type Static } from '@sinclair/typebox';
import { NodeConcurrencySchema, RateLimitSchema, RunConcurrencySchema } from './flow-control';

/** A duration: "500ms", "10s", "5m", "1h" (combinable, e.g. "1h30m") or milliseconds. */
export const DurationSchema = Type.Union([Type.String({ minLength: 1 }), Type.Number({ minimum: 0 })]);

/**
 * A workflow version number. Bounded by Postgres's integer so a huge number is a validation
 * error, not an overflow where it is looked up.
 */
export const VersionSchema = (options: { description?: string } = {}) => Type.Integer({ minimum: 1, maximum: 2_147_483_647, ...options });

export const NODE_ID_PATTERN = '^[A-Za-z][A-Za-z0-9_-]{0,63}$';
export const MAX_NODES = 1_000;

const retryFields = {
  maximumAttempts: Type.Optional(Type.Integer({ minimum: 0, description: '0 means unlimited' })),
  initialInterval: Type.Optional(DurationSchema),
  backoffCoefficient: Type.Optional(Type.Number({ minimum: 1 })),
  maximumInterval: Type.Optional(DurationSchema),
};

/** One retry policy: maps onto Temporal's RetryPolicy as it stands. */
export const RetrySchema = Type.Object(
  { ...retryFields, nonRetryableErrorTypes: Type.Optional(Type.Array(Type.String())) },
  { additionalProperties: false },
);

/** "*" in `errors` (of a retrier or an error edge) stands for every error type not named before it. */
export const ANY_ERROR = '*';
const ErrorTypesSchema = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { minItems: 1, maxItems: 100 });

/** One entry of a retry list (the Step Functions retrier shape): the error types it applies to. */
export const RetrierSchema = Type.Object({ errors: ErrorTypesSchema, ...retryFields }, { additionalProperties: false });

/** `retry`: one policy, or a list of retriers tried in order against each failure's type. */
export const RetryOrListSchema = Type.Union([RetrySchema, Type.Array(RetrierSchema, { minItems: 1, maxItems: 20 })]);

export const TimeoutSchema = Type.Object(
  {
    startToClose: Type.Optional(DurationSchema),
    scheduleToClose: Type.Optional(DurationSchema),
    scheduleToStart: Type.Optional(DurationSchema),
    heartbeat: Type.Optional(DurationSchema),
  },
  { additionalProperties: false },
);

export const TriggerSchema = Type.Union([
  Type.Literal('all_success'),
  Type.Literal('none_failed'),
  Type.Literal('all_done'),
  Type.Literal('one_success'),
  Type.Literal('one_failed'),
  Type.Literal('all_failed'),
  Type.Literal('none_skipped'),
  Type.Literal('always'),
]);

/** How an activity node runs: a regular Temporal activity (default) or a local activity. */
export const ExecutionModeSchema = Type.Union([Type.Literal('regular'), Type.Literal('local')]);

export const NodeSchema = Type.Object(
  {
    id: Type.String({ pattern: NODE_ID_PATTERN }),
    type: Type.String({ minLength: 1 }),
    name: Type.Optional(Type.String()),
    config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    retry: Type.Optional(RetryOrListSchema),
    timeout: Type.Optional(TimeoutSchema),
    onError: Type.Optional(Type.Union([Type.Literal('fail'), Type.Literal('continue')])),
    trigger: Type.Optional(TriggerSchema),
    mode: Type.Optional(ExecutionModeSchema),
    /** mode "local": a retry backoff longer than this becomes a durable timer (Temporal default 1m). */
    localRetryThreshold: Type.Optional(DurationSchema),
    /** Flow control across the tenant's runs (DESIGN.md §5); activity nodes only. */
    concurrency: Type.Optional(NodeConcurrencySchema),
    rateLimit: Type.Optional(RateLimitSchema),
  },
  { additionalProperties: false },
);

export const EdgeSchema = Type.Object(
  {
    from: Type.String({ minLength: 1 }),
    to: Type.String({ minLength: 1 }),
    when: Type.Optional(Type.String({ minLength: 1 })),
    on: Type.Optional(Type.Literal('error')),
    /** On an error edge: taken only for failures of these types. */
    errors: Type.Optional(ErrorTypesSchema),
  },
  { additionalProperties: false },
);

export const DefaultsSchema = Type.Object(
  {
    retry: Type.Optional(RetryOrListSchema),
    timeout: Type.Optional(TimeoutSchema),
    /** Upper bound on activity nodes in flight at once in one run. */
    maxConcurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_000 })),
    mode: Type.Optional(ExecutionModeSchema),
    localRetryThreshold: Type.Optional(DurationSchema),
  },
  { additionalProperties: false },
);

export const DefinitionSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String()),
    defaults: Type.Optional(DefaultsSchema),
    /** Ends the run TIMED_OUT once this long has passed since it started (cleanup nodes still run). */
    runTimeout: Type.Optional(DurationSchema),
    /** Run-level concurrency per key across the tenant's runs of this workflow (DESIGN.md §5). */
    concurrency: Type.Optional(RunConcurrencySchema),
    /** Finished runs of this workflow are deleted this long after they end (at least 1m); wins over TRELLIS_RETENTION. */
    retention: Type.Optional(DurationSchema),
    nodes: Type.Array(NodeSchema, { minItems: 1 }),
    edges: Type.Optional(Type.Array(EdgeSchema)),
  },
  { additionalProperties: false },
);

export type RetrySpec = Static<typeof RetrySchema>;
export type RetrierSpec = Static<typeof RetrierSchema>;
export type RetryOrList = Static<typeof RetryOrListSchema>;
export type TimeoutSpec = Static<typeof TimeoutSchema>;
export type Trigger = Static<typeof TriggerSchema>;
export type NodeDef = Static<typeof NodeSchema>;
export type EdgeDef = Static<typeof EdgeSchema>;
export type WorkflowDefinition = Static<typeof DefinitionSchema>;

// The status model lives in ./status; re-exported here because planner and workflow code import it with the definition types.
export { isTerminal, type ExecutionStatus, type NodeStatus } from './status';

/** The error shape kept for a node or a run: enough to tell what failed and why. */
export interface ErrorInfo {
  type: string;
  message: string;
  nodeId?: string;
  details?: unknown;
}
