import { proxyActivities, uuid4 } from '@temporalio/workflow';
import type { RetentionActivities, RetentionWorkflowInput } from '../contracts/retention';
import { useRecordedSdkFlags } from './recorded-sdk-flags';

const activities = proxyActivities<RetentionActivities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 10 },
});

/**
 * Deletes expired runs in bounded steps (each one short transaction of at most `batchSize` rows
 * over runs, node runs, map items and stored outputs) until a step comes back short, then
 * sweeps stored outputs no run owns, `sweepSize` at a time. Started by the deployment's one
 * Temporal Schedule (overlap SKIP), so it runs once per deployment however many workers there
 * are; a pass that stops at `maxBatches` leaves the rest to the next one. The sweep starts at a
 * random output id and wraps around, so passes over a table too big for one pass still cover it.
 */
export async function retentionWorkflow(input: RetentionWorkflowInput = {}): Promise<{ runs: number; outputs: number }> {
  useRecordedSdkFlags();
  const limit = input.batchSize ?? 500;
  const sweepSize = input.sweepSize ?? 5_000;
  const maxBatches = input.maxBatches ?? 200;
  let runs = 0;
  for (let i = 0; i < maxBatches; i++) {
    const step = await activities.deleteExpiredRuns({ limit });
    runs += step.runs;
    if (step.rows < limit) break;
  }
  let outputs = 0;
  const start = uuid4(); // deterministic in a workflow (seeded by Temporal)
  let after: string | undefined = start;
  let wrapped = false;
  for (let i = 0; i < maxBatches; i++) {
    const step: { deleted: number; next?: string } = await activities.deleteOrphanedOutputs({ limit: sweepSize, ...(after !== undefined && { after }) });
    outputs += step.deleted;
    if (step.next !== undefined) after = step.next;
    else if (wrapped) break;
    else {
      wrapped = true;
      after = undefined; // from the lowest id up to where this pass began
    }
    if (wrapped && after !== undefined && after >= start) break;
  }
  return { runs, outputs };
}
