import { MAX_NODES, type WorkflowDefinition } from './definition';
import { ITERATION_TYPES, MAX_BODY_DEPTH, bodyOf, walkNodes } from './iteration';

interface Problem {
  path: string;
  message: string;
}
type Validate = (definition: unknown, depth: number) => { errors: Problem[] };

/** Node types that wait for something addressed by node id, which no single item of a body can be. */
const NOT_IN_BODIES = new Set(['approval']);

/**
 * The bodies of `map` and `loop` nodes: each is validated as a definition of its own (the same
 * rules, recursively), its problems reported under `/nodes/<i>/config/body`. `validate` is
 * validateDefinition, passed in so the two modules do not import each other.
 */
export function bodyProblems(nodes: readonly unknown[], depth: number, validate: Validate): Problem[] {
  const problems: Problem[] = [];
  nodes.forEach((raw, i) => {
    const node = raw as { id?: unknown; type?: unknown; config?: unknown };
    if (!node || typeof node !== 'object' || typeof node.type !== 'string' || !ITERATION_TYPES.has(node.type)) return;
    const body = bodyOf(node as never);
    if (!body) return; // the config schema reports a missing or malformed body
    const prefix = `/nodes/${i}/config/body`;
    if (depth + 1 > MAX_BODY_DEPTH) {
      problems.push({ path: prefix, message: `map and loop bodies nest at most ${MAX_BODY_DEPTH} deep` });
      return;
    }
    const inner = validate({ name: String(node.id), nodes: body.nodes, edges: body.edges }, depth + 1);
    for (const p of inner.errors) if (p.path !== '/name') problems.push({ path: prefix + p.path, message: p.message });
    body.nodes.forEach((child, j) => {
      if (child && typeof child === 'object' && NOT_IN_BODIES.has(child.type)) {
        problems.push({ path: `${prefix}/nodes/${j}/type`, message: `"${child.type}" nodes cannot run inside a map or loop body` });
      }
    });
  });
  return problems;
}

/**
 * Rules over the whole definition, bodies included: node ids are unique across all of it (so
 * `nodes.<id>` is never ambiguous inside a body) and the node cap counts body nodes.
 */
export function wholeDefinitionProblems(definition: Pick<WorkflowDefinition, 'nodes'>): Problem[] {
  const problems: Problem[] = [];
  const all = [...walkNodes(definition.nodes)];
  const topLevel = definition.nodes.length;
  if (all.length > MAX_NODES && topLevel <= MAX_NODES) {
    problems.push({ path: '/nodes', message: `a workflow may have at most ${MAX_NODES} nodes, bodies included (it has ${all.length})` });
  }
  const first = new Map<string, { path: string; depth: number }>();
  for (const { node, path, depth } of all) {
    if (typeof node.id !== 'string') continue;
    const seen = first.get(node.id);
    if (!seen) first.set(node.id, { path, depth });
    // Duplicates among top-level nodes, or within one body, are reported by that graph's own check.
    else if (depth > 0 || seen.depth > 0) {
      if (!samePeerGraph(seen.path, path)) problems.push({ path: `${path}/id`, message: `duplicate node id "${node.id}" (also ${seen.path})` });
    }
  }
  return problems;
}

/** Two node pointers in the same nodes array (`.../nodes/3` and `.../nodes/7`). */
function samePeerGraph(a: string, b: string): boolean {
  return a.slice(0, a.lastIndexOf('/')) === b.slice(0, b.lastIndexOf('/'));
}
