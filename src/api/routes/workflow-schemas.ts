import { Type } from '@sinclair/typebox';
import { VersionSchema } from '../../domain/definition';
import { EXECUTION_STATUSES } from '../../domain/status';
import { DateTime, Nullable, Page, StringEnum, pageQuery } from '../schemas';

/**
 * The definition is checked by validateDefinition (every problem with its path), not by the
 * envelope schema, which would stop at the first layer and word things differently.
 */
export const Definition = Type.Unknown({ description: 'workflow definition (DESIGN.md §1)' });

export const DEFAULT_PAGE_SIZE = 20;
export const DEFAULT_STATS_WINDOW = '24h';

const Name = Type.String({ minLength: 1, maxLength: 200 });
const Description = Type.String({ maxLength: 2_000 });

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
export const VersionParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128 }),
  version: VersionSchema(),
});

export const CreateBody = Type.Object(
  { name: Name, description: Type.Optional(Description), definition: Definition },
  { additionalProperties: false },
);
export const UpdateBody = Type.Object(
  { definition: Definition, name: Type.Optional(Name), description: Type.Optional(Description) },
  { additionalProperties: false },
);
export const ValidateBody = Type.Object({ definition: Definition }, { additionalProperties: false });

export function listQuery(maxPageSize: number) {
  return Type.Object({
    ...pageQuery({ maxPageSize, defaultLimit: DEFAULT_PAGE_SIZE, cursorMaxLength: 1_024 }),
    includeArchived: Type.Optional(Type.Boolean({ default: false })),
  });
}

export const StatsQuery = Type.Object({
  window: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 32,
      default: DEFAULT_STATS_WINDOW,
      description: 'duration such as "1h", "24h", "7d" (at most 90d)',
    }),
  ),
});

const summaryProperties = {
  id: Type.String(),
  name: Type.String(),
  description: Nullable(Type.String()),
  version: Type.Integer({ description: 'latest version' }),
  createdAt: DateTime,
  updatedAt: DateTime,
  archived: Type.Boolean(),
};

export const WorkflowSummary = Type.Object(summaryProperties);
export const WorkflowDetail = Type.Object({
  ...summaryProperties,
  definition: Definition,
  hookDrops: Type.Optional(
    Type.Object(
      { count: Type.Integer(), lastDroppedAt: Nullable(DateTime) },
      { description: 'Webhook calls refused by run-level concurrency (onLimit drop), which created no run (GET /workflows/:id only)' },
    ),
  ),
});
export const WorkflowPage = Type.Object(Page(WorkflowSummary));
export const WorkflowVersion = Type.Object({
  id: Type.String(),
  name: Type.String(),
  version: Type.Integer(),
  createdAt: DateTime,
  definition: Definition,
});

export const ValidationResult = Type.Object({
  valid: Type.Boolean(),
  errors: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
  warnings: Type.Optional(
    Type.Array(Type.Object({ path: Type.String(), message: Type.String() }), {
      description: 'Not errors: e.g. a credential typed into the definition, better kept as a secret',
    }),
  ),
});

const nullableNumber = Nullable(Type.Number());
export const WorkflowStats = Type.Object({
  window: Type.String(),
  total: Type.Integer(),
  byStatus: Type.Object(Object.fromEntries(EXECUTION_STATUSES.map((s) => [s, Type.Integer()])) as Record<
    (typeof EXECUTION_STATUSES)[number],
    ReturnType<typeof Type.Integer>
  >),
  successRate: nullableNumber,
  avgDurationMs: nullableNumber,
  p95DurationMs: nullableNumber,
});

export const HookToken = Type.Object({
  token: Type.String({ description: 'shown once; only its hash is stored' }),
  url: Type.String({ description: 'POST here to start a run (path relative to the API root)' }),
});

const NodeId = Type.String({ minLength: 1, maxLength: 64 });

/** POST /workflows/test-node (DESIGN.md §6): one node against a given context. */
export const TestNodeBody = Type.Object(
  {
    definition: Type.Optional(Type.Unknown({ description: 'An unsaved definition (validated as POST /workflows/validate does); give this or workflowId' })),
    workflowId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: "A stored workflow of the caller's tenant; give this or definition" })),
    version: Type.Optional(VersionSchema({ description: 'With workflowId: the version to test (default the latest)' })),
    nodeId: Type.String({ minLength: 1, maxLength: 64, description: 'A top-level node of the definition' }),
    input: Type.Optional(Type.Unknown({ description: 'The run input the node sees (`input`); at most 256 KB as JSON' })),
    nodes: Type.Optional(
      Type.Record(NodeId, Type.Object({ output: Type.Unknown() }, { additionalProperties: false, required: ['output'] }), {
        maxProperties: 1_000,
        description: 'Outputs of the nodes it reads (`nodes.<id>.output`), as SUCCEEDED upstream nodes; every other node is PENDING. At most 256 KB as JSON',
      }),
    ),
  },
  { additionalProperties: false },
);

export const TestNodeResult = Type.Object({
  status: StringEnum(['SUCCEEDED', 'FAILED']),
  output: Type.Unknown({ description: 'The node output (null when it failed)' }),
  error: Nullable(
    Type.Object({
      type: Type.String({ description: 'e.g. ExpressionLimitExceeded, HttpServerError, ActivityTimeout' }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  ),
  durationMs: Type.Number({ description: 'In-workflow types: the evaluation; activity types: the whole test as the caller waited (scheduling included)' }),
  attempts: Type.Integer({ description: 'Always 1: a test never retries' }),
});
