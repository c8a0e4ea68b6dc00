import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { RETENTION_SCHEDULE_ID, RETENTION_WORKFLOW_TYPE } from '../contracts/retention';

/**
 * Makes sure the deployment's retention Schedule exists with this interval: one Schedule for
 * the namespace and task queue, so retention runs once per deployment however many workers
 * start (each start creates it or updates its interval). Overlap SKIP: a pass still deleting
 * when the next is due lets that one go.
 */
export async function ensureRetentionSchedule(client: Client, taskQueue: string, intervalMs: number): Promise<void> {
  const spec = { intervals: [{ every: intervalMs }] };
  const action = { type: 'startWorkflow' as const, workflowType: RETENTION_WORKFLOW_TYPE, taskQueue, args: [{}], workflowId: `${RETENTION_SCHEDULE_ID}-${taskQueue}` };
  const scheduleId = `${RETENTION_SCHEDULE_ID}-${taskQueue}`;
  try {
    await client.schedule.create({ scheduleId, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP } });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
  }
}
