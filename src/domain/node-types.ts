import { Type, type TSchema } from '@sinclair/typebox';
import { DurationSchema, VersionSchema } from './definition';
import { LoopConfigSchema, MapConfigSchema } from './iteration';

/**
 * How a node type executes. Only `activity` types leave the workflow; the rest are evaluated by
 * the interpreter itself (no server round trip), as a durable timer, a signal wait or a child;
 * `map` and `loop` run a body sub-graph (src/workflows/iteration-node.ts).
 */
export type NodeExecution = 'activity' | 'inline' | 'timer' | 'signal' | 'child' | 'map' | 'loop';

/** What validation and the interpreter need to know about a node type; no run function here. */
export interface NodeTypeSpec {
  type: string;
  execution: NodeExecution;
  configSchema: TSchema;
  /** Config fields holding a raw JSONata expression (not a `{{ }}` template). */
  expressionFields?: readonly string[];
  /** Outgoing edges must carry a `when` label; the allowed labels, or `any` for free-form. */
  branchLabels?: readonly string[] | 'any';
  /** Config fields holding durations (checked by validation when not a template). */
  durationFields?: readonly string[];
  /** Config fields that must stay literal: a `{{ }}` template there is a validation error. */
  literalFields?: readonly string[];
  /** Top-level config fields that may hold `{{ secrets.NAME }}` (activity types that declare them). */
  secretFields?: readonly string[];
}

export type NodeCatalog = ReadonlyMap<string, NodeTypeSpec>;

const expressionConfig = Type.Object({ expression: Type.String({ minLength: 1 }) }, { additionalProperties: false });

export const BUILTIN_NODE_TYPES: readonly NodeTypeSpec[] = [
  { type: 'transform', execution: 'inline', configSchema: expressionConfig, expressionFields: ['expression'] },
  {
    type: 'condition',
    execution: 'inline',
    configSchema: expressionConfig,
    expressionFields: ['expression'],
    branchLabels: ['true', 'false'],
  },
  { type: 'switch', execution: 'inline', configSchema: expressionConfig, expressionFields: ['expression'], branchLabels: 'any' },
  { type: 'noop', execution: 'inline', configSchema: Type.Object({}, { additionalProperties: false }) },
  {
    type: 'fail',
    execution: 'inline',
    configSchema: Type.Object(
      { message: Type.Optional(Type.String()), type: Type.Optional(Type.String()) },
      { additionalProperties: false },
    ),
  },
  {
    type: 'delay',
    execution: 'timer',
    configSchema: Type.Union([
      Type.Object({ duration: DurationSchema }, { additionalProperties: false }),
      Type.Object({ until: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
    ]),
    durationFields: ['duration'],
  },
  {
    type: 'approval',
    execution: 'signal',
    configSchema: Type.Object(
      {
        timeout: Type.Optional(DurationSchema),
        onTimeout: Type.Optional(Type.Union([Type.Literal('reject'), Type.Literal('approve')])),
        message: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    durationFields: ['timeout'],
  },
  {
    type: 'subworkflow',
    execution: 'child',
    configSchema: Type.Object(
      {
        workflowId: Type.String({ minLength: 1 }),
        version: Type.Optional(VersionSchema()),
        input: Type.Optional(Type.Unknown()),
      },
      { additionalProperties: false },
    ),
  },
  // `body` is a sub-graph validated as a definition of its own (validate.ts).
  { type: 'map', execution: 'map', configSchema: MapConfigSchema, expressionFields: ['items', 'output'] },
  { type: 'loop', execution: 'loop', configSchema: LoopConfigSchema, expressionFields: ['until'], durationFields: ['interval'] },
];

export const BUILTIN_CATALOG: NodeCatalog = new Map(BUILTIN_NODE_TYPES.map((spec) => [spec.type, spec]));

export function catalogOf(specs: Iterable<NodeTypeSpec>): NodeCatalog {
  return new Map([...specs].map((spec) => [spec.type, spec]));
}

/** The execution kind of a type: anything not built in is a registered activity type. */
export function executionOf(type: string): NodeExecution {
  return BUILTIN_CATALOG.get(type)?.execution ?? 'activity';
}
