import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { NODE_HEARTBEAT_INTERVAL_MS } from '../domain/policy';
import { BUILTIN_CATALOG, catalogOf, type NodeCatalog, type NodeTypeSpec } from '../domain/node-types';
import type { NodeActivityInput, NodeActivityResult } from '../contracts/node-activity';
import { runHeavy, withActivityHolds } from './heavy-lane';
import { StoredOutputNotFound, resolveOutputRefs, type OutputStore } from './output-store';
import { explainConfigError } from '../domain/template-trace';
import { Redactor, SecretNotFound, resolveSecretTemplates, showSecretTemplates, type SecretSource } from './secrets';

/** What a node type's run function receives besides its (resolved, schema-checked) config. */
export interface NodeRunContext {
  nodeId: string;
  executionId: string;
  attempt: number;
  /** Aborted when Temporal cancels the activity (run cancelled, timeout, worker shutdown). */
  signal: AbortSignal;
  heartbeat(details?: unknown): void;
  /** The run's tenant, when it has one. */
  tenantId?: string;
  /**
   * A tenant secret looked up by the node itself (e.g. a postgres connection URL); the value is
   * redacted from the node's output and errors like any resolved `{{ secrets.NAME }}`.
   */
  secret(name: string): Promise<string | undefined>;
  /**
   * The config as the node's errors and logs must describe it: every string built from a secret
   * in its template form (`{{ secrets.NAME }}`), the rest as resolved. Name a request from this
   * (not from the resolved URL), so no encoding of a secret can reach a message. Always set by
   * the activity wrapper; absent only where a test calls a node's `run` itself.
   */
  shown?: Record<string, unknown>;
}

/** A node type that runs as a Temporal activity of the same name. */
export interface NodeType<S extends TSchema = TSchema> {
  type: string;
  configSchema: S;
  /** Config fields holding durations, checked at validation time. */
  durationFields?: readonly string[];
  /** Config fields that must be written out in the definition: a `{{ }}` template there is refused. */
  literalFields?: readonly string[];
  /** Top-level config fields that may hold `{{ secrets.NAME }}` references. */
  secretFields?: readonly string[];
  run(config: Static<S>, context: NodeRunContext): Promise<unknown>;
}

/** Identity helper that keeps the config type tied to the schema. */
export function defineNodeType<S extends TSchema>(nodeType: NodeType<S>): NodeType<S> {
  return nodeType;
}

export type NodeActivity = (input: NodeActivityInput) => Promise<NodeActivityResult>;

/** What a node type may be called (it is also the activity's name). */
export const NODE_TYPE_NAME = /^[a-z][a-zA-Z0-9_.-]{0,63}$/;
/**
 * Heartbeats are throttled by the SDK; frequent calls make cancellation arrive sooner and keep
 * the default heartbeat timeout (a multiple of this interval) from firing on a live worker.
 */
const HEARTBEAT_EVERY_MS = NODE_HEARTBEAT_INTERVAL_MS;

/** The node types this deployment runs as activities; built-ins plus custom ones. */
export class NodeRegistry {
  private readonly types = new Map<string, NodeType>();

  register<S extends TSchema>(nodeType: NodeType<S>): this {
    if (!NODE_TYPE_NAME.test(nodeType.type)) throw new Error(`invalid node type name "${nodeType.type}"`);
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
      literalFields: t.literalFields,
      secretFields: t.secretFields,
    }));
    return catalogOf([...BUILTIN_CATALOG.values(), ...activitySpecs]);
  }

  /** One activity function per registered type, keyed by the type name, for the worker. */
  activities(outputs?: OutputStore, secrets?: SecretSource): Record<string, NodeActivity> {
    return Object.fromEntries([...this.types.values()].map((t) => [t.type, toActivity(t, outputs, secrets)]));
  }
}

/**
 * Wraps a node type's run function as an activity: checks the resolved config, heartbeats so
 * cancellation is delivered, and reports the attempt number with the result or the failure.
 * With an output store, outputs over its threshold travel as references and references in the
 * config are resolved before the node runs. Secret references are resolved last, for the run's
 * tenant only, and every value resolved is redacted from what the activity returns or throws.
 */
export function toActivity(nodeType: NodeType, outputs?: OutputStore, secrets?: SecretSource): NodeActivity {
  return async function nodeActivity(input: NodeActivityInput): Promise<NodeActivityResult> {
    const ctx = Context.current();
    const attempt = (input.priorAttempts ?? 0) + ctx.info.attempt;
    const redactor = new Redactor();
    let config: Record<string, unknown>;
    let shown: Record<string, unknown>;
    try {
      config = outputs ? ((await resolveOutputRefs(input.config ?? {}, outputs, input.tenantId)) as Record<string, unknown>) : (input.config ?? {});
      shown = config;
      if (input.secretPaths?.length) {
        shown = showSecretTemplates(config, input.secretPaths);
        config = await resolveSecretTemplates(config, input.secretPaths, {
          fields: nodeType.secretFields ?? [],
          source: secrets,
          tenantId: input.tenantId,
          redactor,
          nodeType: nodeType.type,
        });
      }
    } catch (err) {
      if (!(err instanceof StoredOutputNotFound || err instanceof SecretNotFound)) throw err;
      throw ApplicationFailure.create({ type: err.name, message: `node "${input.nodeId}": ${err.message}`, nonRetryable: true, details: [{ attempt }] });
    }
    try {
      return await withActivityHolds(() => runChecked(nodeType, { config, shown }, input, attempt, ctx, outputs, secrets, redactor));
    } catch (err) {
      throw redactor.failure(err);
    }
  };
}

async function runChecked(
  nodeType: NodeType,
  { config, shown }: { config: Record<string, unknown>; shown: Record<string, unknown> },
  input: NodeActivityInput,
  attempt: number,
  ctx: Context,
  outputs: OutputStore | undefined,
  secrets: SecretSource | undefined,
  redactor: Redactor,
): Promise<NodeActivityResult> {
  if (!Value.Check(nodeType.configSchema, config)) {
    const problems = [...Value.Errors(nodeType.configSchema, config)].slice(0, 10).map((e) => explainConfigError(e.path, e.message, input.emptyTemplates));
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
        if (!ctx.info.isLocal) ctx.heartbeat(redactor.value(details));
      },
      ...(input.tenantId !== undefined && { tenantId: input.tenantId }),
      secret: async (name) => {
        if (!secrets || input.tenantId === undefined) return undefined;
        const value = (await secrets.values(input.tenantId, [name])).get(name);
        if (value !== undefined) redactor.add(name, value);
        return value;
      },
      shown,
    });
    // Redacting and measuring a large output is long synchronous work: the heavy lane keeps it
    // from stalling every other activity's heartbeats on this worker (see heavy-lane.ts).
    const value = await runHeavy(() => redactor.value(output === undefined ? null : output));
    // Past the run's remaining room (or the store's threshold) an output travels by reference.
    const inlineLimit = Math.min(outputs?.thresholdBytes ?? Infinity, input.inlineOutputBytes ?? Infinity);
    if (inlineLimit !== Infinity) {
      // Measured once: the store writes this same text (no second stringify of a large output).
      const json = await runHeavy(() => JSON.stringify(value));
      const sizeBytes = Buffer.byteLength(json);
      if (sizeBytes > inlineLimit) {
        if (outputs) return { output: await outputs.save(input.executionId, input.nodeId, value, sizeBytes, input.tenantId, json), attempt };
        throw ApplicationFailure.create({
          type: 'OutputLimitExceeded',
          message: `node "${input.nodeId}" returned ${sizeBytes} bytes; at most ${inlineLimit} fit in the run and no output store is configured`,
          nonRetryable: true,
        });
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
