import type { DefinitionStore } from '../activities/engine';
import type { Db } from '../db/client';
import type { WorkflowDefinition } from '../domain/definition';

/** Stored workflow versions in Postgres, for the worker's loadDefinition activity. */
export class PrismaDefinitionStore implements DefinitionStore {
  constructor(private readonly db: Db) {}

  async getVersion(workflowId: string, version?: number) {
    const workflow = await this.db.workflow.findUnique({ where: { id: workflowId }, select: { latestVersion: true } });
    if (!workflow) return undefined;
    const number = version ?? workflow.latestVersion;
    const row = await this.db.workflowVersion.findUnique({ where: { workflowId_version: { workflowId, version: number } } });
    return row ? { version: number, definition: row.definition as unknown as WorkflowDefinition } : undefined;
  }
}
