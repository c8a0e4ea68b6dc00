import { ApplicationFailure, patched, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import { TENANT_CLAIM_REFUSED, type DagWorkflowInput, type TenantClaimActivities } from '../contracts/dag-workflow';
import { SIGNED_TENANT_CLAIMS_PATCH } from '../contracts/patches';

const claims = proxyLocalActivities<TenantClaimActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: [TENANT_CLAIM_REFUSED] },
  localRetryThreshold: 1,
  summary: 'verify tenant claim',
});

/**
 * A dagWorkflow with an inline definition and a tenantId runs as that tenant only when Trellis
 * signed the start (the key lives outside the sandbox, so the local activity checks it). Trellis
 * starts no child dagWorkflow with an inline definition (subworkflows name a stored workflow),
 * so a parent does not excuse a missing signature here.
 */
export async function verifyDagClaim(args: DagWorkflowInput): Promise<void> {
  if (args.definition === undefined || args.tenantId === undefined) return;
  if (!patched(SIGNED_TENANT_CLAIMS_PATCH)) return;
  await claims.verifyTenantClaim({ temporalWorkflowId: workflowInfo().workflowId, input: args });
}

/**
 * Map, map-batch and loop workflows run a node body for their tenant, and Trellis starts them
 * only as children of its own runs. One started without a parent (from a Temporal client) that
 * names a tenant is refused. A child inherits its parent's claim: only workflow code starts
 * children, and the parent was checked when it started. (Code that can start workflows AND run
 * its own workflow worker in the namespace has operator access; see docs/security.md.)
 * Continue-as-new keeps the parent, so later generations pass too.
 */
export function refuseOrphanTenantScope(input: { tenantId?: string }): void {
  if (input.tenantId === undefined || workflowInfo().parent !== undefined) return;
  // Only the refused case records the marker: Trellis's own children replay unchanged.
  if (!patched(SIGNED_TENANT_CLAIMS_PATCH)) return;
  throw ApplicationFailure.nonRetryable(
    `${workflowInfo().workflowType} names a tenant but was not started by a Trellis run; start runs through the API`,
    TENANT_CLAIM_REFUSED,
  );
}
