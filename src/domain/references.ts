import type { EdgeDef, NodeDef } from './definition';
import { escapePointer, parseExpression, templateExpressions } from './expressions';
import type { NodeTypeSpec } from './node-types';
import type { ValidationProblem } from './validation-problem';

/**
 * Save-time check of `nodes.X` in expressions: X must be a node, and upstream of the node that
 * reads it (an ancestor through any edges). Anything else can only ever read null (or a racy
 * PENDING/RUNNING state), which users of other engines expect to be told about when saving.
 * Ids of nodes inside sub-graphs (a `map` or `loop` body) are scoped by their own type, so
 * references to them are left alone here.
 */
export function referenceProblems(
  nodes: NodeDef[],
  edges: EdgeDef[],
  specs: ReadonlyMap<string, NodeTypeSpec | undefined>,
): ValidationProblem[] {
  const topLevel = new Set(nodes.filter((n) => n && typeof n.id === 'string').map((n) => n.id));
  const nested = new Set<string>();
  for (const node of nodes) if (node?.config) collectSubgraphIds(node.config, nested, 0);
  const parents = new Map<string, string[]>();
  for (const edge of edges) {
    if (!edge || !topLevel.has(edge.from) || !topLevel.has(edge.to)) continue;
    parents.set(edge.to, [...(parents.get(edge.to) ?? []), edge.from]);
  }
  const problems: ValidationProblem[] = [];
  nodes.forEach((node, i) => {
    if (!node || typeof node.id !== 'string' || !node.config || typeof node.config !== 'object') return;
    let ancestors: Set<string> | undefined;
    for (const { path, expression } of expressionsOf(node, specs.get(node.id), `/nodes/${i}/config`)) {
      for (const target of readNodes(expression)) {
        if (nested.has(target)) continue;
        if (!topLevel.has(target)) {
          problems.push({ path, message: `reads nodes.${target}, but there is no node "${target}"` });
          continue;
        }
        ancestors ??= ancestorsOf(node.id, parents);
        if (!ancestors.has(target)) {
          problems.push({
            path,
            message: `reads nodes.${target}, but "${target}" is not upstream of "${node.id}" (add an edge path from it; as is, it can only ever be null)`,
          });
        }
      }
    }
  });
  return problems;
}

/** Raw expression fields of the type, and every `{{ }}` template elsewhere in the config. */
function* expressionsOf(node: NodeDef, spec: NodeTypeSpec | undefined, prefix: string): Generator<{ path: string; expression: string }> {
  const raw = new Set(spec?.expressionFields ?? []);
  for (const [key, value] of Object.entries(node.config!)) {
    const path = `${prefix}/${escapePointer(key)}`;
    if (raw.has(key)) {
      if (typeof value === 'string') yield { path, expression: value };
    } else {
      yield* templateExpressions(value, path);
    }
  }
}

/** Parsed answers of readNodes: definitions repeat expressions, and every save validates again. */
const READS = new Map<string, string[]>();
const MAX_CACHED = 500;

/** Node ids read as `nodes.<id>` (the root-level path), once each. */
export function readNodes(expression: string): string[] {
  if (!expression.includes('nodes')) return []; // most expressions never read a node: skip the parse
  const cached = READS.get(expression);
  if (cached) return cached;
  const found = parseReads(expression);
  if (READS.size >= MAX_CACHED) READS.delete(READS.keys().next().value!);
  READS.set(expression, found);
  return found;
}

function parseReads(expression: string): string[] {
  let ast: unknown;
  try {
    ast = parseExpression(expression);
  } catch {
    return []; // unparsable expressions are reported by the expression check
  }
  const found = new Set<string>();
  const stack: unknown[] = [ast];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item === null || typeof item !== 'object') continue;
    if (Array.isArray(item)) {
      stack.push(...item);
      continue;
    }
    const step = item as { type?: string; steps?: { type?: string; value?: unknown }[] };
    const [first, second] = step.steps ?? [];
    if (step.type === 'path' && first?.type === 'name' && first.value === 'nodes' && second?.type === 'name' && typeof second.value === 'string') {
      found.add(second.value);
    }
    for (const value of Object.values(item)) if (value !== null && typeof value === 'object') stack.push(value);
  }
  return [...found];
}

function ancestorsOf(id: string, parents: ReadonlyMap<string, string[]>): Set<string> {
  const seen = new Set<string>();
  const stack = [...(parents.get(id) ?? [])];
  while (stack.length > 0) {
    const next = stack.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    stack.push(...(parents.get(next) ?? []));
  }
  return seen;
}

/** Ids of nodes in any sub-graph (an object with a `nodes` array) inside a config. */
function collectSubgraphIds(value: unknown, into: Set<string>, depth: number): void {
  if (value === null || typeof value !== 'object' || depth > 32) return;
  if (Array.isArray(value)) {
    for (const item of value) collectSubgraphIds(item, into, depth + 1);
    return;
  }
  const record = value as Record<string, unknown>;
  if (Array.isArray(record.nodes)) {
    for (const n of record.nodes) {
      const id = (n as { id?: unknown } | null)?.id;
      if (typeof id === 'string') into.add(id);
    }
  }
  for (const child of Object.values(record)) collectSubgraphIds(child, into, depth + 1);
}
