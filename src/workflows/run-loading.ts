import { ApplicationFailure, patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { WorkflowDefinition } from '../domain/definition';
import { DagPlanner } from '../domain/planner';
import { validateDefinition } from '../domain/validate';
import type { DagWorkflowInput, EngineActivities } from '../contracts/dag-workflow';
import { LOCAL_LOAD_DEFINITION_PATCH } from '../contracts/patches';
import { verifyDagClaim } from './tenant-claim';

const { loadDefinition } = proxyActivities<EngineActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: ['WorkflowNotFound', 'InvalidDefinition'] },
});
/**
 * The same lookup as a local activity: a stored run's first step no longer waits a task-queue
 * round trip (and shows as one marker, not an activity). Retries back off on timers.
 */
const localEngine = proxyLocalActivities<EngineActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: ['WorkflowNotFound', 'InvalidDefinition'] },
  localRetryThreshold: 1,
  summary: 'load definition',
});

/**
 * What a run knows once its definition is loaded. Built once, so the interpreter holds it as
 * plain fields instead of optional ones it would have to assert on every use.
 */
export interface LoadedRun {
  definition: WorkflowDefinition;
  /** Stored runs have a version; an inline definition started without one has none. */
  version: number | undefined;
  tenantId: string | undefined;
  planner: DagPlanner;
}

/** Validates an inline definition or looks up the stored one, within the run's tenant. */
export async function loadRun(args: DagWorkflowInput): Promise<LoadedRun> {
  if (args.definition) {
    const result = validateDefinition(args.definition, { allowUnknownTypes: true, acceptStored: true });
    if (!result.valid) {
      const summary = result.errors.slice(0, 5).map((e) => `${e.path}: ${e.message}`).join('; ');
      throw ApplicationFailure.nonRetryable(`invalid workflow definition: ${summary}`, 'InvalidDefinition', result.errors);
    }
    // Inline definitions are trusted with a tenant only when Trellis signed the start.
    await verifyDagClaim(args);
    return loaded(args.definition, args.version, args.tenantId);
  }
  if (!args.workflowId) {
    throw ApplicationFailure.nonRetryable('dagWorkflow needs a workflowId or a definition', 'InvalidInput');
  }
  const load = patched(LOCAL_LOAD_DEFINITION_PATCH) ? localEngine.loadDefinition : loadDefinition;
  const stored = await load({
    workflowId: args.workflowId,
    version: args.version,
    ...(args.tenantId !== undefined && { tenantId: args.tenantId }),
  });
  return loaded(stored.definition, stored.version, args.tenantId ?? stored.tenantId);
}

function loaded(definition: WorkflowDefinition, version: number | undefined, tenantId: string | undefined): LoadedRun {
  return { definition, version, tenantId, planner: new DagPlanner(definition) };
}
