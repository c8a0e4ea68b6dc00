import type { ExpressionContext } from './expressions';
import { readNodes } from './references';

/**
 * Expressions over outputs stored by reference (a large activity output, or a large map's
 * `results`). The workflow holds only `{ "$trellisRef": ... }` for them, and workflow code cannot
 * read Postgres, so an expression that reads such a node is evaluated by an activity that loads
 * the stored values (the run's tenant's only) and returns a result within the inline budget.
 */

function isRef(value: unknown): boolean {
  return value !== null && typeof value === 'object' && typeof (value as { $trellisRef?: unknown }).$trellisRef === 'string';
}

/** Whether a node output is, or directly holds (as a map's `results` does), a stored reference. */
export function holdsStoredOutput(output: unknown): boolean {
  if (isRef(output)) return true;
  if (output === null || typeof output !== 'object' || Array.isArray(output)) return false;
  return Object.values(output).some(isRef);
}

/** Ids of the nodes an expression reads (`nodes.<id>`) whose output is stored by reference. */
export function storedReads(expression: string, nodes: ExpressionContext['nodes']): string[] {
  return readNodes(expression).filter((id) => Object.hasOwn(nodes, id) && holdsStoredOutput(nodes[id]!.output));
}
