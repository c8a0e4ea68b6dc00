import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowDefinition } from '../domain/definition';
import type { NodeCatalog } from '../domain/node-types';
import { validateDefinition } from '../domain/validate';
import type { EngineActivities, LoadDefinitionRequest, LoadedDefinition } from '../workflows/contract';

/** Where stored workflow versions come from (Postgres in the API; a map in tests). */
export interface DefinitionStore {
  /** The given version, or the latest one; undefined when the workflow or version does not exist. */
  getVersion(workflowId: string, version?: number): Promise<LoadedDefinition | undefined>;
}

/** A store held in memory: for tests and for embedding the engine without a database. */
export class InMemoryDefinitionStore implements DefinitionStore {
  private readonly versions = new Map<string, WorkflowDefinition[]>();

  /** Saves a new immutable version and returns its number. */
  put(workflowId: string, definition: WorkflowDefinition): number {
    const list = this.versions.get(workflowId) ?? [];
    list.push(structuredClone(definition));
    this.versions.set(workflowId, list);
    return list.length;
  }

  async getVersion(workflowId: string, version?: number): Promise<LoadedDefinition | undefined> {
    const list = this.versions.get(workflowId);
    if (!list || list.length === 0) return undefined;
    const number = version ?? list.length;
    const definition = list[number - 1];
    return definition ? { version: number, definition: structuredClone(definition) } : undefined;
  }
}

/** Activities the interpreter itself needs (not node types). */
export function createEngineActivities(deps: { store: DefinitionStore; catalog: NodeCatalog }): EngineActivities {
  return {
    async loadDefinition({ workflowId, version }: LoadDefinitionRequest): Promise<LoadedDefinition> {
      const loaded = await deps.store.getVersion(workflowId, version);
      if (!loaded) {
        const which = version === undefined ? 'any version' : `version ${version}`;
        throw ApplicationFailure.nonRetryable(`workflow "${workflowId}" has no ${which}`, 'WorkflowNotFound');
      }
      // Stored versions were validated on save; a node type missing on this worker shows up here.
      const result = validateDefinition(loaded.definition, { catalog: deps.catalog, acceptStored: true });
      if (!result.valid) {
        throw ApplicationFailure.nonRetryable(
          `workflow "${workflowId}" version ${loaded.version} is not valid here: ${result.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
          'InvalidDefinition',
          result.errors,
        );
      }
      return loaded;
    },
  };
}
