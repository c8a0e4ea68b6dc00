import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/client';
import { claimIsValid, claimSigningKey } from '../crypto/claim-signing';
import { TENANT_CLAIM_REFUSED, type TenantClaimActivities } from '../contracts/dag-workflow';

/**
 * Verifies a run's tenant claim on the worker, outside the sandbox, with the deployment's key.
 * Without a database there is no key: every claim is refused (nothing may run as a tenant).
 */
export function createTenantClaimActivities(db: Db | undefined): TenantClaimActivities {
  return {
    async verifyTenantClaim({ temporalWorkflowId, input }) {
      // A key that cannot be read is an outage, not a verdict: that error is retried.
      const key = db ? await claimSigningKey(db) : undefined;
      if (key && claimIsValid(key, temporalWorkflowId, input)) return;
      throw ApplicationFailure.nonRetryable(
        'this run names a tenant but was not started by Trellis (no valid claim signature); start it through the API, or by workflowId',
        TENANT_CLAIM_REFUSED,
      );
    },
  };
}
