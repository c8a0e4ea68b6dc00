import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { NODE_HEARTBEAT_INTERVAL_MS } from '../domain/policy';
import { BUILTIN_CATALOG, catalogOf, type NodeCatalog, type NodeTypeSpec } from '../domain/node-types';
import type { NodeActivityInput, NodeActivityResult } from '../domain/activity-contract';
import { resolveOutputRefs, type OutputStore } from './output-store';

/** What a node type's run function receives besides its (resolved, schema-checked) config. */
export interface NodeRunContext {
  nodeId: string;
  executionId: string;
  attempt: number;
  /** Aborted when Temporal cancels the activity (run cancelled, timeout, worker shutdown). */
  signal: AbortSignal;
  heartbeat(details?: unknown): void;
}

/** A node type that runs as a Temporal activity of the same name. */
export interface NodeType<S extends TSchema = TSchema> {
  type: string;
  configSchema: S;
  /** Config fields holding durations, checked at validation time. */
  durationFields?: readonly string[];
  run(config: Static<S>, context: NodeRunContext): Promise<unknown>;
}

/** Identity helper that keeps the config type tied to the schema. */
export function defineNodeType<S extends TSchema>(nodeType: NodeType<S>): NodeType<S> {
  return nodeType;
}

export type NodeActivity = (input: NodeActivityInput) => Promise<NodeActivityResult>;

const TYPE_NAME = /^[a-z][a-zA-Z0-9_.-]{0,63}$/;
/**
 * Heartbeats are throttled by the SDK; frequent calls make cancellation arrive sooner and keep
 * the default heartbeat timeout (a multiple of this interval) from firing on a live worker.
 */
const HEARTBEAT_EVERY_MS = NODE_HEARTBEAT_INTERVAL_MS;

/** The node types this deployment runs as activities; built-ins plus custom ones. */
export class NodeRegistry {
  private readonly types = new Map<string, NodeType>();

  register<S extends TSchema>(nodeType: NodeType<S>): this {
    if (!TYPE_NAME.test(nodeType.type)) throw new Error(`invalid node type name "${nodeType.type}"`);
    if (BUILTIN_CATALOG.has(nodeType.type)) throw new Error(`"${nodeType.type}" is a built-in workflow node type`);
    if (this.types.has(nodeType.type)) throw new Error(`node type "${nodeType.type}" is already registered`);
    this.types.set(nodeType.type, nodeType as unknown as NodeType);
    return this;
  }

  get(type: string): NodeType | undefined {
    return this.types.get(type);
  }

  /** Everything validation needs to know: built-in types plus the registered activity types. */
  catalog(): NodeCatalog {
    const activitySpecs: NodeTypeSpec[] = [...this.types.values()].map((t) => ({
      type: t.type,
      execution: 'activity',
      configSchema: t.configSchema,
      durationFields: t.durationFields,
    }));
    return catalogOf([...BUILTIN_CATALOG.values(), ...activitySpecs]);
  }

  /** One activity function per registered type, keyed by the type name, for the worker. */
  activities(outputs?: OutputStore): Record<string, NodeActivity> {
    return Object.fromEntries([...this.types.values()].map((t) => [t.type, toActivity(t, outputs)]));
  }
}

/**
 * Wraps a node type's run function as an activity: checks the resolved config, heartbeats so
 * cancellation is delivered, and reports the attempt number with the result or the failure.
 * With an output store, outputs over its threshold travel as references and references in the
 * config are resolved before the node runs.
 */
export function toActivity(nodeType: NodeType, outputs?: OutputStore): NodeActivity {
  return async function nodeActivity(input: NodeActivityInput): Promise<NodeActivityResult> {
    const ctx = Context.current();
    const attempt = ctx.info.attempt;
    const config = outputs ? ((await resolveOutputRefs(input.config ?? {}, outputs)) as Record<string, unknown>) : (input.config ?? {});
    if (!Value.Check(nodeType.configSchema, config)) {
      const problems = [...Value.Errors(nodeType.configSchema, config)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}`);
      throw ApplicationFailure.create({
        type: 'ConfigError',
        message: `node "${input.nodeId}": config does not match type "${nodeType.type}": ${problems.join('; ')}`,
        nonRetryable: true,
        details: [{ attempt }],
      });
    }
    // A local activity (mode "local") cannot heartbeat; its cancellation arrives without one.
    const timer = ctx.info.isLocal ? undefined : setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
    try {
      const output = await nodeType.run(config, {
        nodeId: input.nodeId,
        executionId: input.executionId,
        attempt,
        signal: ctx.cancellationSignal,
        heartbeat: (details) => {
          if (!ctx.info.isLocal) ctx.heartbeat(details);
        },
      });
      const value = output === undefined ? null : output;
      if (outputs) {
        const sizeBytes = Buffer.byteLength(JSON.stringify(value));
        if (sizeBytes > outputs.thresholdBytes) {
          return { output: await outputs.save(input.executionId, input.nodeId, value, sizeBytes), attempt };
        }
      }
      return { output: value, attempt };
    } catch (err) {
      if (ctx.cancellationSignal.aborted) {
        throw err instanceof CancelledFailure ? err : new CancelledFailure(`node "${input.nodeId}" cancelled`);
      }
      throw withAttempt(err, attempt);
    } finally {
      clearInterval(timer);
    }
  };
}

/** Re-creates the failure with the attempt in its details, keeping type and retryability. */
function withAttempt(err: unknown, attempt: number): ApplicationFailure {
  if (err instanceof ApplicationFailure) {
    return ApplicationFailure.create({
      type: err.type ?? 'Error',
      message: err.message,
      nonRetryable: err.nonRetryable ?? false,
      details: [{ attempt, ...(firstDetail(err.details)) }],
      nextRetryDelay: err.nextRetryDelay,
      cause: err.cause,
    });
  }
  const error = err instanceof Error ? err : new Error(String(err));
  return ApplicationFailure.create({
    type: error.name,
    message: error.message,
    nonRetryable: false,
    details: [{ attempt }],
    cause: error,
  });
}

function firstDetail(details: unknown[] | undefined | null): Record<string, unknown> {
  const first = details?.[0];
  return first !== null && typeof first === 'object' && !Array.isArray(first) ? (first as Record<string, unknown>) : {};
}
