import { proxyActivities } from '@temporalio/workflow';
import type { RetentionActivities, RetentionWorkflowInput } from '../contracts/retention';

const activities = proxyActivities<RetentionActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 },
});

/**
 * Deletes expired runs in bounded batches (each one short statement), then orphaned stored
 * outputs, until a batch comes back short or `maxBatches` ran. Started by the deployment's
 * one Temporal Schedule (overlap SKIP), so it runs once per deployment however many workers
 * there are; a pass that stops at `maxBatches` leaves the rest to the next one.
 */
export async function retentionWorkflow(input: RetentionWorkflowInput = {}): Promise<{ runs: number; outputs: number }> {
  const limit = input.batchSize ?? 500;
  const maxBatches = input.maxBatches ?? 100;
  let runs = 0;
  let outputs = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await activities.deleteExpiredRuns({ limit });
    runs += n;
    if (n < limit) break;
  }
  for (let i = 0; i < maxBatches; i++) {
    const n = await activities.deleteOrphanedOutputs({ limit });
    outputs += n;
    if (n < limit) break;
  }
  return { runs, outputs };
}
