import type { WorkflowDefinition } from './definition';
import type { NodeStatus } from './status';

/** What the source run left for a node: its status and, when it SUCCEEDED, its output. */
export interface SourceNode {
  status: NodeStatus;
  output: unknown;
}

export type RerunPlan =
  | {
      ok: true;
      /** Outputs the new run settles with instead of running those nodes (by node id, sorted). */
      reuse: Record<string, unknown>;
      /** fromNodes and every node downstream of them: these run again. */
      rerun: string[];
    }
  | { ok: false; problems: { path: string; message: string }[] };

/**
 * A rerun from `fromNodes` on `definition` (the source run's version or another one, nodes
 * matched by id): the nodes from there downstream run again, every other node keeps the source
 * run's output (or the one given in `outputs`, which wins). A re-running node may only read kept
 * nodes that produced something: every upstream kept node must have an output (SUCCEEDED in the
 * source or given) or have been SKIPPED there (a branch not taken stays not taken, since the
 * deciding node's output is kept). Anything else is listed, all at once, so one 400 names every
 * node to fix. Kept nodes no re-running node reads and that left nothing (a side branch that
 * failed) run again as in any run.
 */
export function planRerun(
  definition: WorkflowDefinition,
  fromNodes: readonly string[],
  source: ReadonlyMap<string, SourceNode>,
  outputs: Readonly<Record<string, unknown>> = {},
): RerunPlan {
  const ids = new Set(definition.nodes.map((n) => n.id));
  const problems: { path: string; message: string }[] = [];
  fromNodes.forEach((id, i) => {
    if (!ids.has(id)) problems.push({ path: `/fromNodes/${i}`, message: `no node "${id}" in this version of the workflow` });
  });
  const children = new Map<string, string[]>();
  const parents = new Map<string, string[]>();
  for (const edge of definition.edges ?? []) {
    if (!ids.has(edge.from) || !ids.has(edge.to)) continue;
    children.set(edge.from, [...(children.get(edge.from) ?? []), edge.to]);
    parents.set(edge.to, [...(parents.get(edge.to) ?? []), edge.from]);
  }
  const rerun = closure(fromNodes.filter((id) => ids.has(id)), children);
  for (const id of Object.keys(outputs)) {
    if (!ids.has(id)) problems.push({ path: `/outputs/${escape(id)}`, message: `no node "${id}" in this version of the workflow` });
    else if (rerun.has(id)) problems.push({ path: `/outputs/${escape(id)}`, message: `"${id}" runs again (it is a fromNode or downstream of one), so its output cannot be given` });
  }
  const has = (id: string) => Object.hasOwn(outputs, id) || source.get(id)?.status === 'SUCCEEDED';
  const read = new Set<string>();
  for (const id of rerun) for (const up of closure(parents.get(id) ?? [], parents)) if (!rerun.has(up)) read.add(up);
  for (const id of [...read].sort()) {
    if (has(id) || source.get(id)?.status === 'SKIPPED') continue;
    const was = source.get(id);
    problems.push({
      path: `/nodes/${escape(id)}`,
      message: was
        ? `"${id}" is read by a node that runs again, but it ended ${was.status} in the source run; give its output in "outputs" or rerun from it`
        : `"${id}" is read by a node that runs again, but the source run has no result for it (new in this version?); give its output in "outputs" or rerun from it`,
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  const reuse: Record<string, unknown> = {};
  for (const id of [...ids].sort()) {
    if (rerun.has(id)) continue;
    if (Object.hasOwn(outputs, id)) reuse[id] = outputs[id];
    else if (source.get(id)?.status === 'SUCCEEDED') reuse[id] = source.get(id)!.output;
  }
  return { ok: true, reuse, rerun: [...rerun].sort() };
}

/** The given nodes and everything reachable from them along `next`. */
function closure(start: readonly string[], next: ReadonlyMap<string, string[]>): Set<string> {
  const seen = new Set<string>(start);
  const stack = [...start];
  while (stack.length > 0) {
    for (const n of next.get(stack.pop()!) ?? []) {
      if (!seen.has(n)) {
        seen.add(n);
        stack.push(n);
      }
    }
  }
  return seen;
}

function escape(id: string): string {
  return id.replace(/~/g, '~0').replace(/\//g, '~1');
}
