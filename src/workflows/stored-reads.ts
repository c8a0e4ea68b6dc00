import { ApplicationFailure, patched, proxyLocalActivities } from '@temporalio/workflow';
import type { ExpressionCompiler, ExpressionContext } from '../domain/expressions';
import { RUN_LIMITS } from '../domain/run-limits';
import { storedReads } from '../domain/stored-reads';
import type { IterationStoreActivities } from '../contracts/iteration-store';
import { STORED_READS_PATCH } from '../contracts/patches';

// A local activity: no task-queue round trip, and its input (the context) stays out of the history.
const reads = proxyLocalActivities<IterationStoreActivities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 5 },
  summary: 'evaluate over stored outputs',
});

/**
 * Evaluates an in-workflow expression. When it reads a node whose output is stored by reference
 * (a large map's `results`, a large activity output), an activity loads those outputs (the run's
 * tenant's only) and evaluates it; its result must fit the inline output budget.
 */
export async function evaluateExpression(
  expression: string,
  context: ExpressionContext,
  compiler: ExpressionCompiler,
  tenantId: string | undefined,
): Promise<unknown> {
  const load = storedReads(expression, context.nodes);
  if (load.length === 0 || !patched(STORED_READS_PATCH)) return compiler.evaluate(expression, context);
  const answer = await reads.evaluateOverStoredOutputs({
    expression,
    context,
    load,
    maxBytes: RUN_LIMITS.inlineOutputBytes,
    ...(tenantId !== undefined && { tenantId }),
  });
  if ('error' in answer) throw ApplicationFailure.nonRetryable(answer.error.message, answer.error.type);
  return answer.value;
}
