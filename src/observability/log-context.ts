import type { Context } from '@temporalio/activity';
import type { ActivityInterceptors } from '@temporalio/worker';

/**
 * Activity interceptor: every log line of a node attempt (the SDK's `Activity completed/failed`
 * and the node's own Context.log lines) carries the run context from the node's input:
 * executionId, nodeId, tenantId and attempt (counting the retry list's earlier attempts).
 * Lines before the input is seen (`Activity started`) carry what Temporal knows: the workflow
 * id (= execution id), the activity id and Temporal's attempt.
 */
export function logContextInterceptor(ctx: Context): ActivityInterceptors {
  let fields: Record<string, unknown> = { attempt: ctx.info.attempt };
  return {
    inbound: {
      async execute(input, next) {
        const first = input.args[0] as { executionId?: unknown; nodeId?: unknown; tenantId?: unknown; priorAttempts?: unknown } | undefined;
        if (first && typeof first === 'object' && typeof first.executionId === 'string') {
          fields = {
            executionId: first.executionId,
            ...(typeof first.nodeId === 'string' && { nodeId: first.nodeId }),
            ...(typeof first.tenantId === 'string' && { tenantId: first.tenantId }),
            attempt: (typeof first.priorAttempts === 'number' ? first.priorAttempts : 0) + ctx.info.attempt,
          };
        }
        return next(input);
      },
    },
    outbound: {
      getLogAttributes(attributes, next) {
        return next({ ...attributes, ...fields });
      },
    },
  };
}
