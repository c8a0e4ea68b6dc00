import { Type } from '@sinclair/typebox';
import { VersionSchema } from '../../domain/definition';
import { DateTime, Nullable, Page, StringEnum, pageQuery } from '../schemas';
import { EXECUTION_STATUSES, EXECUTION_TRIGGERS, NODE_STATUSES } from '../../domain/status';

const AnyJson = Type.Unknown();


export const ExecutionStatusSchema = StringEnum(EXECUTION_STATUSES);
const IdempotencyKey = (description: string) => Type.String({ minLength: 1, maxLength: 255, description });

export { ErrorSchema, errorResponses } from '../schemas';

export const ExecutionIdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
export const NodeParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 200 }),
  nodeId: Type.String({ minLength: 1, maxLength: 64 }),
});

const summaryProperties = {
  id: Type.String({ description: 'Also the Temporal workflow id of the run' }),
  workflowId: Type.String(),
  version: Type.Integer({ description: 'The workflow version the run is pinned to' }),
  status: ExecutionStatusSchema,
  trigger: StringEnum(EXECUTION_TRIGGERS),
  idempotencyKey: Nullable(Type.String()),
  retryOf: Nullable(Type.String({ description: 'The run this one retries' })),
  rerunOf: Nullable(Type.String({ description: 'The run this one reruns from some of its nodes (trigger RERUN)' })),
  test: Type.Boolean({ description: 'A test run (started with `mocks`): listed only with ?test=true and left out of stats' }),
  createdAt: DateTime,
  startedAt: DateTime,
  finishedAt: Nullable(DateTime),
  paused: Type.Boolean({ description: 'A pause holds the run: it starts no new node, map item or loop iteration (its status stays RUNNING)' }),
  pausedAt: Nullable(DateTime, { description: 'While paused: since when' }),
  pausedBy: Nullable(Type.String({ description: 'While paused: who paused it ("apikey:<name or id>")' })),
};

export const ExecutionSummarySchema = Type.Object(summaryProperties);

const NodeIdKey = Type.String({ minLength: 1, maxLength: 64 });

/** A mocked node's result (DESIGN.md §6): its output, or the error it fails with. */
const NodeMockSchema = Type.Union([
  Type.Object({ output: AnyJson }, { additionalProperties: false, required: ['output'] }),
  Type.Object(
    {
      error: Type.Object(
        { type: Type.String({ minLength: 1, maxLength: 200 }), message: Type.String({ maxLength: 4000 }) },
        { additionalProperties: false },
      ),
    },
    { additionalProperties: false },
  ),
]);

export const StartBody = Type.Object(
  {
    workflowId: Type.String({ minLength: 1, maxLength: 200 }),
    version: Type.Optional(VersionSchema({ description: 'Defaults to the latest version' })),
    input: Type.Optional(AnyJson),
    idempotencyKey: Type.Optional(IdempotencyKey('Same key, same run (per tenant)')),
    runTimeout: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 50 }), Type.Integer({ minimum: 1 })], {
        description: "Overrides the definition's runTimeout for this run: a duration (\"90s\", \"2h\") or milliseconds, at most 30 days",
      }),
    ),
    mocks: Type.Optional(
      Type.Record(NodeIdKey, NodeMockSchema, {
        minProperties: 1,
        maxProperties: 500,
        description:
          'Makes this a test run (`test: true`): these top-level nodes do not run; each ends with the given `output` (SUCCEEDED) or ' +
          '`error` (FAILED, so failure paths and onError edges run as usual). A condition needs `{ result: boolean }`, a switch `{ case }`. ' +
          'At most 256 KB as JSON',
      }),
    ),
  },
  { additionalProperties: false },
);

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(IdempotencyKey('Alternative to the body field; both given must be equal')),
});

export function listQuery(maxPageSize: number) {
  return Type.Object({
    workflowId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    status: Type.Optional(ExecutionStatusSchema),
    waiting: Type.Optional(StringEnum(['approval'], { description: 'Only runs with an approval node waiting for a decision' })),
    test: Type.Optional(StringEnum(['true', 'false'], { description: 'true: only test runs (started with mocks); otherwise test runs are left out' })),
    ...pageQuery({ maxPageSize }),
  });
}

export const ExecutionListSchema = Type.Object(Page(ExecutionSummarySchema));

export const DetailQuery = Type.Object({
  live: Type.Optional(
    StringEnum(['1', '0', 'true', 'false'], { description: "Merge the workflow's live `state` query over the mirror" }),
  ),
});

const NodeViewSchema = Type.Object({
  nodeId: Type.String(),
  type: Type.String(),
  status: StringEnum(NODE_STATUSES),
  attempt: Type.Integer({ description: "Temporal's attempt number; 0 before the node has run" }),
  startedAt: Nullable(DateTime),
  finishedAt: Nullable(DateTime),
  output: AnyJson,
  error: AnyJson,
  waitingFor: Type.Optional(
    Type.Object(
      { kind: StringEnum(['concurrency', 'rateLimit', 'tenantShare']), key: Type.String() },
      { description: 'While WAITING for its turn under a limit: which limit and key (DESIGN.md §5)' },
    ),
  ),
  reused: Type.Boolean({ description: "A retry or rerun kept this node's earlier (or given) output instead of running it" }),
  mocked: Type.Optional(Type.Literal(true, { description: "True on a node a test run's mock settled (it did not run); absent otherwise" })),
  failedAttempts: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      type: Type.String({ description: 'The error type, e.g. HttpServerError, ActivityTimeout' }),
      message: Type.String({ description: 'Up to 4,000 characters' }),
      at: DateTime,
    }),
    {
      description:
        "The node's failed attempts, oldest first; the last 20 are kept. Written by the worker that ran each attempt (an attempt whose worker died is missing; ?live=1 shows Temporal's last failure while the node retries)",
    },
  ),
  retry: Type.Optional(
    Type.Object(
      {
        state: Type.String({ description: 'SCHEDULED (waiting for the next attempt) or STARTED (an attempt runs), ...' }),
        attempt: Type.Integer(),
        maximumAttempts: Type.Integer({ description: '0: unlimited' }),
        lastFailure: Nullable(Type.Object({ message: Type.String(), type: Type.Optional(Type.String()) })),
        nextAttemptAt: Nullable(DateTime),
      },
      { description: "With ?live=1: Temporal's view of a node it is running or retrying" },
    ),
  ),
  approval: Type.Optional(
    Type.Object(
      {
        message: Nullable(Type.String({ description: 'The message template rendered for this run' })),
        deadline: Nullable(DateTime),
        onTimeout: StringEnum(['approve', 'reject']),
        renderError: Type.Optional(Type.String()),
      },
      { description: 'For a waiting approval node' },
    ),
  ),
});

export const ExecutionDetailSchema = Type.Object({
  ...summaryProperties,
  input: AnyJson,
  output: AnyJson,
  error: AnyJson,
  progress: Type.Object({
    total: Type.Integer({ description: 'Nodes in the pinned definition' }),
    done: Type.Integer({ description: 'Nodes in a terminal state' }),
  }),
  nodes: Type.Array(NodeViewSchema),
  temporalRunId: Nullable(Type.String(), {
    description: "Temporal's run id, for Web UI links (null until the run has recorded itself; with ?live=1, Temporal's current one)",
  }),
  live: Type.Optional(Type.Boolean({ description: 'With ?live=1: whether the live query answered' })),
});

export const CancelBody = Type.Object(
  {
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
    force: Type.Optional(Type.Boolean({ description: 'Skip cleanup (all_done / always nodes); a second cancel does the same' })),
  },
  { additionalProperties: false },
);

export const CancelResponse = Type.Object({
  id: Type.String(),
  status: ExecutionStatusSchema,
  cancelRequested: Type.Boolean(),
});

export const PauseResponse = Type.Object({
  id: Type.String(),
  status: ExecutionStatusSchema,
  paused: Type.Boolean({ description: 'What was asked: true after /pause, false after /resume (GET shows it once the run has taken it)' }),
});

export const ApproveBody = Type.Object(
  {
    approved: Type.Boolean(),
    data: Type.Optional(AnyJson),
    by: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Ignored: the decision is recorded as made by the calling API key ("apikey:<name or id>")' }),
    ),
  },
  { additionalProperties: false },
);

export const ApproveResponse = Type.Object({
  id: Type.String(),
  nodeId: Type.String(),
  approved: Type.Boolean(),
  by: Type.String(),
});

export const RetryResponse = Type.Object({
  ...summaryProperties,
  reused: Type.Array(Type.String(), { description: 'Nodes whose earlier output the new run reuses instead of running again' }),
});

export const RerunBody = Type.Object(
  {
    fromNodes: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
      minItems: 1,
      maxItems: 500,
      uniqueItems: true,
      description: 'Top-level nodes to run again; everything downstream of them runs again too, every other node keeps its output',
    }),
    version: Type.Optional(VersionSchema({ description: "Another version of the run's workflow (nodes matched by id); defaults to the run's own" })),
    input: Type.Optional(AnyJson),
    outputs: Type.Optional(
      Type.Record(Type.String({ minLength: 1, maxLength: 64 }), AnyJson, {
        description: "Replaces kept nodes' outputs (fix the data, go on); a node that runs again cannot be given one",
      }),
    ),
  },
  { additionalProperties: false },
);

export const RerunResponse = Type.Object({
  ...summaryProperties,
  reused: Type.Array(Type.String(), { description: 'Nodes whose output the new run keeps instead of running them again' }),
  rerun: Type.Array(Type.String(), { description: 'fromNodes and the nodes downstream of them: these run again' }),
});
