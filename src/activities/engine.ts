import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowDefinition } from '../domain/definition';
import type { NodeCatalog } from '../domain/node-types';
import { validateDefinition } from '../domain/validate';
import type { EngineActivities, LoadDefinitionRequest, LoadedDefinition } from '../contracts/dag-workflow';

/** A stored version as the engine sees it: its definition, owner and whether it is archived. */
export interface StoredVersion extends LoadedDefinition {
  archived?: boolean;
}

/** Where stored workflow versions come from (Postgres in the API; a map in tests). */
export interface DefinitionStore {
  /**
   * The given version, or the latest one; undefined when the workflow or version does not
   * exist or, with `tenantId`, belongs to another tenant.
   */
  getVersion(workflowId: string, version?: number, tenantId?: string): Promise<StoredVersion | undefined>;
}

/** A run asking for its slot under its tenant's cap on runs in progress. */
export interface RunSlotRequest {
  executionId: string;
  temporalRunId: string;
  tenantId: string;
  workflowId: string;
  version: number;
}

/**
 * Bounds a tenant's concurrent runs, however they start (child runs included): `admit` takes
 * the run's slot atomically (a run that holds one already, such as one the API started, is
 * admitted again), or says how many are running against which limit.
 */
export interface ExecutionLimiter {
  admit(run: RunSlotRequest): Promise<{ admitted: true } | { admitted: false; running: number; limit: number }>;
}

/** A store held in memory: for tests and for embedding the engine without a database. */
export class InMemoryDefinitionStore implements DefinitionStore {
  private readonly versions = new Map<string, WorkflowDefinition[]>();

  private readonly owners = new Map<string, string>();

  /** Saves a new immutable version and returns its number. */
  put(workflowId: string, definition: WorkflowDefinition, tenantId?: string): number {
    const list = this.versions.get(workflowId) ?? [];
    list.push(structuredClone(definition));
    this.versions.set(workflowId, list);
    if (tenantId !== undefined) this.owners.set(workflowId, tenantId);
    return list.length;
  }

  async getVersion(workflowId: string, version?: number, tenantId?: string): Promise<StoredVersion | undefined> {
    const list = this.versions.get(workflowId);
    if (!list || list.length === 0) return undefined;
    const owner = this.owners.get(workflowId);
    if (tenantId !== undefined && owner !== undefined && owner !== tenantId) return undefined;
    const number = version ?? list.length;
    const definition = list[number - 1];
    return definition ? { version: number, definition: structuredClone(definition), ...(owner && { tenantId: owner }) } : undefined;
  }
}

/** Activities the interpreter itself needs (not node types). */
export function createEngineActivities(deps: { store: DefinitionStore; catalog: NodeCatalog; limiter?: ExecutionLimiter }): EngineActivities {
  return {
    async loadDefinition({ workflowId, version, tenantId }: LoadDefinitionRequest): Promise<LoadedDefinition> {
      // Scoped by tenant: another tenant's workflow is as absent as an unknown one.
      const stored = await deps.store.getVersion(workflowId, version, tenantId);
      if (!stored) {
        const which = version === undefined ? 'any version' : `version ${version}`;
        throw ApplicationFailure.nonRetryable(`workflow "${workflowId}" has no ${which}`, 'WorkflowNotFound');
      }
      const { archived, ...loaded } = stored;
      if (archived) throw ApplicationFailure.nonRetryable(`workflow "${workflowId}" is archived; it starts no new runs`, 'WorkflowArchived');
      // Stored versions were validated on save; a node type missing on this worker shows up here.
      const result = validateDefinition(loaded.definition, { catalog: deps.catalog, acceptStored: true });
      if (!result.valid) {
        throw ApplicationFailure.nonRetryable(
          `workflow "${workflowId}" version ${loaded.version} is not valid here: ${result.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
          'InvalidDefinition',
          result.errors,
        );
      }
      const owner = loaded.tenantId ?? tenantId;
      // Only inside a run (a standalone activity has no run to admit).
      const workflowExecution = deps.limiter && owner !== undefined ? Context.current().info.workflowExecution : undefined;
      if (deps.limiter && owner !== undefined && workflowExecution) {
        // Last: a run that would fail anyway takes no slot. Retried attempts find their reservation.
        const slot = await deps.limiter.admit({
          executionId: workflowExecution.workflowId,
          temporalRunId: workflowExecution.runId,
          tenantId: owner,
          workflowId,
          version: loaded.version,
        });
        if (!slot.admitted) {
          throw ApplicationFailure.nonRetryable(
            `tenant has ${slot.running} runs in progress; the limit is ${slot.limit} (TRELLIS_MAX_RUNNING_PER_TENANT)`,
            'TenantRunLimitExceeded',
          );
        }
      }
      return loaded;
    },
  };
}
