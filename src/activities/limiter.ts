import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { limiterWorkflowId } from '../domain/flow-control';
import { LIMITER_WORKFLOW_TYPE, limitAcquireSignal, type LimiterActivities, type LimiterState } from '../contracts/limiter';

/**
 * The limiter's activities (src/workflows/limiter-workflow.ts). Workflows cannot signal-with-start
 * themselves, so the asking run does it through this activity, as in Temporal's mutex sample; the
 * client is the worker's own (Context.client).
 */
export function createLimiterActivities(): LimiterActivities {
  return {
    async requestLimitSlot({ identity, request }) {
      const { client, info } = Context.current();
      const initial: LimiterState = { ...identity, holders: [], queue: [], recent: [], limit: request.limit };
      await client.workflow.signalWithStart(LIMITER_WORKFLOW_TYPE, {
        workflowId: limiterWorkflowId(identity.tenantId, identity.kind, identity.key, identity.workflowId),
        taskQueue: info.taskQueue,
        args: [initial],
        signal: limitAcquireSignal,
        signalArgs: [request],
      });
    },

    async closedLimitHolders(holders) {
      const { client } = Context.current();
      const closed = await Promise.all(
        holders.map(async (holder) => {
          try {
            // An empty run id is a slot the API reserved before starting the run: its latest run is the one.
            const description = await client.workflow.getHandle(holder.workflowId, holder.runId || undefined).describe();
            return description.status.name === 'RUNNING' ? undefined : holder;
          } catch (err) {
            if (err instanceof WorkflowNotFoundError) return holder;
            throw err;
          }
        }),
      );
      return closed.filter((h) => h !== undefined);
    },
  };
}
