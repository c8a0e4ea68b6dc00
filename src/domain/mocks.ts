import type { NodeDef, WorkflowDefinition } from './definition';
import { walkNodes } from './iteration';
import type { ValidationProblem } from './validation-problem';

/**
 * Mocked nodes of a test run (DESIGN.md §6): instead of running, a mocked top-level node ends
 * with the output (SUCCEEDED) or error (FAILED) it is given, as if it had run. Shared by the API,
 * which refuses mocks that cannot apply, and the workflow, which settles them (node-mocks.ts).
 */
export type NodeMock = { output: unknown } | { error: { type: string; message: string } };

/** What a mocked branch node decides: the value its edge labels are matched against. */
export type MockBranch = { ok: true; branchValue?: unknown } | { ok: false; message: string };

/**
 * A condition or switch decides from its output, so a mock of one must carry what the node would
 * have produced (`{ result: boolean }`, `{ case: string | null }`); other types decide nothing.
 */
export function mockBranch(type: string, output: unknown): MockBranch {
  const out = output !== null && typeof output === 'object' && !Array.isArray(output) ? (output as Record<string, unknown>) : undefined;
  if (type === 'condition') {
    return typeof out?.result === 'boolean'
      ? { ok: true, branchValue: out.result }
      : { ok: false, message: 'a condition node\'s mocked output must be { "result": true | false }' };
  }
  if (type === 'switch') {
    const value = out?.case;
    if (value === null) return { ok: true, branchValue: 'default' };
    return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
      ? { ok: true, branchValue: String(value) }
      : { ok: false, message: 'a switch node\'s mocked output must be { "case": "<label>" } (null takes the default edge)' };
  }
  return { ok: true };
}

/**
 * Every reason the mocks cannot apply to this definition, each with its path in the request
 * body: a node id the definition does not have at top level (a node of a map or loop body is
 * named as such), or a branch node's output it could not decide from.
 */
export function checkMocks(definition: WorkflowDefinition, mocks: Readonly<Record<string, NodeMock>>, base = '/body/mocks'): ValidationProblem[] {
  const topLevel = new Map<string, NodeDef>(definition.nodes.map((n) => [n.id, n]));
  const inBodies = new Set<string>();
  for (const { node, depth } of walkNodes(definition.nodes)) if (depth > 0) inBodies.add(node.id);
  const problems: ValidationProblem[] = [];
  for (const [id, mock] of Object.entries(mocks)) {
    const path = `${base}/${pointerEscape(id)}`;
    const node = topLevel.get(id);
    if (!node) {
      problems.push({
        path,
        message: inBodies.has(id)
          ? `"${id}" is a node of a map or loop body; only top-level nodes can be mocked`
          : `no node "${id}" in this version of the workflow`,
      });
      continue;
    }
    if ('output' in mock) {
      const branch = mockBranch(node.type, mock.output);
      if (!branch.ok) problems.push({ path: `${path}/output`, message: branch.message });
    }
  }
  return problems;
}

/** RFC 6901: `~` and `/` in a node id. */
function pointerEscape(id: string): string {
  return id.replace(/~/g, '~0').replace(/\//g, '~1');
}
