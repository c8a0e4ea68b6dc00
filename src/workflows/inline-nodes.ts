import { ApplicationFailure } from '@temporalio/workflow';
import type { NodeDef } from '../domain/definition';
import type { ExpressionCompiler, ExpressionContext } from '../domain/expressions';
import { evaluateExpression } from './stored-reads';

/** A node evaluated inside the workflow: its output, and for branch nodes the label value. */
export interface InlineResult {
  output: unknown;
  branchValue?: unknown;
}

/**
 * transform / condition / switch / noop / fail: evaluated in the workflow itself, so they cost no
 * server round trip and leave no events of their own in the history.
 */
export async function runInlineNode(
  node: NodeDef,
  config: Record<string, unknown>,
  context: ExpressionContext,
  compiler: ExpressionCompiler,
  /** Asked only when a switch yields null or nothing: whether to take the `default` edge. */
  switchDefaults: () => boolean = () => false,
  /** The run's tenant: outputs stored by reference that the expression reads are loaded for it. */
  tenantId?: string,
): Promise<InlineResult> {
  const evaluate = (expression: unknown) => evaluateExpression(String(expression), context, compiler, tenantId);
  switch (node.type) {
    case 'noop':
      return { output: {} };
    case 'transform':
      return { output: await evaluate(config.expression) };
    case 'condition': {
      const value = await evaluate(config.expression);
      if (typeof value !== 'boolean') {
        throw ApplicationFailure.nonRetryable(
          `condition "${node.id}" must evaluate to true or false, got ${JSON.stringify(value)}`,
          'ExpressionTypeError',
        );
      }
      return { output: { result: value }, branchValue: value };
    }
    case 'switch': {
      const value = await evaluate(config.expression);
      if ((value === null || value === undefined) && switchDefaults()) return { output: { case: null }, branchValue: 'default' };
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw ApplicationFailure.nonRetryable(
          `switch "${node.id}" must evaluate to a string, got ${JSON.stringify(value)}`,
          'ExpressionTypeError',
        );
      }
      return { output: { case: String(value) }, branchValue: String(value) };
    }
    case 'fail':
      throw ApplicationFailure.nonRetryable(
        typeof config.message === 'string' ? config.message : `node "${node.id}" failed`,
        typeof config.type === 'string' ? config.type : 'NodeFailed',
      );
    default:
      throw new Error(`"${node.type}" is not an inline node type`);
  }
}
