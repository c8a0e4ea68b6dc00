import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  DAG_WORKFLOW_TYPE,
  approveSignal,
  cancelSignal,
  stateQuery,
  type ApprovalDecision,
  type DagRunState,
  type DagWorkflowInput,
} from '../workflows/contract';

export interface RunDescription {
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, ... */
  status: string;
  closeTime?: Date;
}

/**
 * Everything the API and the reconciler ask of Temporal, behind one small interface so the
 * routes can be tested without a server.
 */
export interface TemporalGateway {
  /** Starts `dagWorkflow` with the execution id as its workflow id; starting twice is not an error. */
  startRun(executionId: string, input: DagWorkflowInput): Promise<void>;
  cancelRun(executionId: string, reason?: string): Promise<void>;
  approve(executionId: string, decision: ApprovalDecision): Promise<void>;
  /** The live state from the workflow's query, or undefined when the workflow is unknown. */
  queryState(executionId: string): Promise<DagRunState | undefined>;
  describe(executionId: string): Promise<RunDescription | undefined>;
  /** Resolves when Temporal answers; throws otherwise. */
  ping(): Promise<void>;
}

export function createTemporalGateway(client: Client, taskQueue: string): TemporalGateway {
  const handle = (id: string) => client.workflow.getHandle(id);
  return {
    async startRun(executionId, input) {
      try {
        await client.workflow.start(DAG_WORKFLOW_TYPE, {
          taskQueue,
          workflowId: executionId,
          args: [input],
          // An execution id names one run forever: a retried start must never run it a second time.
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
      } catch (err) {
        // A retried request (same idempotency key) finds the run already started: that is success.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },
    async cancelRun(executionId, reason) {
      await handle(executionId).signal(cancelSignal, { reason });
    },
    async approve(executionId, decision) {
      await handle(executionId).signal(approveSignal, decision);
    },
    async queryState(executionId) {
      try {
        return await handle(executionId).query(stateQuery);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
    },
    async describe(executionId) {
      try {
        const d = await handle(executionId).describe();
        return { status: d.status.name, closeTime: d.closeTime };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
    },
    async ping() {
      await client.workflowService.getSystemInfo({});
    },
  };
}
