import type { EdgeDef } from './definition';

/** Returns the nodes of one cycle in edge order, or undefined when the graph is acyclic. */
export function findCycle(ids: readonly string[], edges: readonly Pick<EdgeDef, 'from' | 'to'>[]): string[] | undefined {
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of edges) out.get(e.from)?.push(e.to);
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  // Iterative DFS: a 1,000-node chain must not overflow the call stack inside the sandbox.
  for (const root of ids) {
    if (state.has(root)) continue;
    const frames: { id: string; next: number }[] = [{ id: root, next: 0 }];
    state.set(root, 'open');
    stack.push(root);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const targets = out.get(frame.id) ?? [];
      if (frame.next < targets.length) {
        const target = targets[frame.next++]!;
        const s = state.get(target);
        if (s === 'open') return stack.slice(stack.indexOf(target));
        if (s === undefined) {
          state.set(target, 'open');
          stack.push(target);
          frames.push({ id: target, next: 0 });
        }
      } else {
        state.set(frame.id, 'done');
        stack.pop();
        frames.pop();
      }
    }
  }
  return undefined;
}
