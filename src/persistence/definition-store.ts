import { setting, type Environment } from '../config';
import type { DefinitionStore, ExecutionLimiter, StoredVersion } from '../activities/engine';
import type { Db } from '../db/client';
import type { WorkflowDefinition } from '../domain/definition';
import { reserveRun, type RunReservation } from '../mirror';

/** Stored workflow versions in Postgres, for the worker's loadDefinition activity. */
export class PrismaDefinitionStore implements DefinitionStore {
  constructor(private readonly db: Db) {}

  async getVersion(workflowId: string, version?: number, tenantId?: string): Promise<StoredVersion | undefined> {
    const workflow = await this.db.workflow.findFirst({
      where: { id: workflowId, ...(tenantId !== undefined && { tenantId }) },
      select: { latestVersion: true, tenantId: true, archivedAt: true },
    });
    if (!workflow) return undefined;
    const number = version ?? workflow.latestVersion;
    const row = await this.db.workflowVersion.findUnique({ where: { workflowId_version: { workflowId, version: number } } });
    if (!row) return undefined;
    return {
      version: number,
      definition: row.definition as unknown as WorkflowDefinition,
      tenantId: workflow.tenantId,
      archived: workflow.archivedAt !== null,
    };
  }
}

/** Default bound on a tenant's runs in progress; TRELLIS_MAX_RUNNING_PER_TENANT overrides it. */
export const DEFAULT_MAX_RUNNING_PER_TENANT = 1_000;

export function maxRunningPerTenant(env?: Environment): number {
  if (!env) return setting('TRELLIS_MAX_RUNNING_PER_TENANT');
  const value = Number(env.TRELLIS_MAX_RUNNING_PER_TENANT);
  return Number.isInteger(value) && value > 0 ? value : DEFAULT_MAX_RUNNING_PER_TENANT;
}

/**
 * The worker's side of the per-tenant cap: a run Temporal started (schedule, subworkflow,
 * external client) reserves its row in Postgres under the tenant's admission lock before it
 * runs any node (see src/mirror/run-admission.ts).
 */
export class PrismaExecutionLimiter implements ExecutionLimiter {
  constructor(
    private readonly db: Db,
    private readonly maxRunning = maxRunningPerTenant(),
  ) {}

  admit(run: RunReservation): Promise<{ admitted: true } | { admitted: false; running: number; limit: number }> {
    return reserveRun(this.db, run, this.maxRunning);
  }
}
