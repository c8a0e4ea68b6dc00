import type { NodeDef } from './definition';

/** A node evaluated inside the workflow: its output, and for branch nodes the label value. */
export interface InlineResult {
  output: unknown;
  branchValue?: unknown;
}

/** An inline node that fails by its own rules (a condition that is not boolean, a `fail` node): never retried. */
export class InlineNodeFailure extends Error {
  constructor(
    message: string,
    readonly type: string,
  ) {
    super(message);
    this.name = 'InlineNodeFailure';
  }
}

/**
 * What transform / condition / switch / noop / fail do with their evaluated expression, for
 * POST /workflows/test-node (which evaluates in the API with the same engine and limits).
 * The workflow's own copy is workflows/inline-nodes.ts: it is not rewritten onto this one because
 * every extra async frame there moves when a node settles relative to the others in an
 * activation, and with it the recorded command order. test/domain/inline-nodes.test.ts checks
 * both agree. Throws InlineNodeFailure for a node that fails by its own rules; expression errors
 * propagate.
 */
export async function evaluateInlineNode(
  node: Pick<NodeDef, 'id' | 'type'>,
  config: Record<string, unknown>,
  evaluate: (expression: unknown) => Promise<unknown>,
  /** Asked only when a switch yields null or nothing: whether to take the `default` edge. */
  switchDefaults: () => boolean = () => false,
): Promise<InlineResult> {
  switch (node.type) {
    case 'noop':
      return { output: {} };
    case 'transform':
      return { output: await evaluate(config.expression) };
    case 'condition': {
      const value = await evaluate(config.expression);
      if (typeof value !== 'boolean') {
        throw new InlineNodeFailure(`condition "${node.id}" must evaluate to true or false, got ${JSON.stringify(value)}`, 'ExpressionTypeError');
      }
      return { output: { result: value }, branchValue: value };
    }
    case 'switch': {
      const value = await evaluate(config.expression);
      if ((value === null || value === undefined) && switchDefaults()) return { output: { case: null }, branchValue: 'default' };
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw new InlineNodeFailure(`switch "${node.id}" must evaluate to a string, got ${JSON.stringify(value)}`, 'ExpressionTypeError');
      }
      return { output: { case: String(value) }, branchValue: String(value) };
    }
    case 'fail':
      throw new InlineNodeFailure(
        typeof config.message === 'string' ? config.message : `node "${node.id}" failed`,
        typeof config.type === 'string' ? config.type : 'NodeFailed',
      );
    default:
      throw new Error(`"${node.type}" is not an inline node type`);
  }
}
