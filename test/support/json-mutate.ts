import fc from 'fast-check';

/** Values that tend to break things: wrong types, empty and odd strings, template and JSON edge cases. */
export const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom('', ' ', '{{', '{{ }}', '{{ $$$ }}', '1x', '-5s', 'a'.repeat(300), '__proto__', 'constructor', 'ééé', '\u0000', '\ud800', -1, 0, 1e308, 2 ** 53, 2 ** 31, true, null, [], {}),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
);

export interface Mutation {
  pick: number;
  op: 'delete' | 'replace' | 'duplicate' | 'cycle' | 'addKey';
  key: string;
  value: unknown;
}

export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  pick: fc.nat(),
  op: fc.constantFrom<Mutation['op'][]>('delete', 'replace', 'replace', 'duplicate', 'cycle', 'addKey'),
  key: fc.constantFrom('id', 'type', 'when', 'on', 'config', 'retry', 'trigger', 'extra', '__proto__', ''),
  value: nastyValue,
});

/** Every path (as key lists) inside a JSON value, the root included. */
export function jsonPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...jsonPaths(v, [...prefix, i])));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...jsonPaths(v, [...prefix, k]));
  return out;
}

/**
 * A copy of a JSON value with random mutations at random places: delete, replace with a nasty
 * value, duplicate an array element, add an edge back to an earlier node (cycles, for
 * definitions), or add a key (own `__proto__` included).
 */
export function mutate(value: unknown, mutations: Mutation[]): unknown {
  // Values are inserted as copies: nastyValue's `[]` and `{}` are one shared instance each, so
  // inserting them by reference let a later addKey put `{}` inside itself (a cycle that overflowed
  // jsonPaths) and changed the constant for every later draw.
  const holder: Record<string, unknown> = { root: JSON.parse(JSON.stringify(value)) };
  for (const m of mutations) {
    const all = jsonPaths(holder.root).map((p) => ['root', ...p]);
    const path = all[m.pick % all.length]!;
    const parent = path.slice(0, -1).reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], holder) as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    const target = parent[last];
    if (m.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else if (path.length > 1 && last !== 'root') delete parent[last];
    } else if (m.op === 'replace') parent[last] = structuredClone(m.value);
    else if (m.op === 'duplicate' && Array.isArray(parent)) parent.push(JSON.parse(JSON.stringify(target ?? null)));
    else if (m.op === 'cycle') {
      const root = holder.root as { nodes?: unknown; edges?: unknown } | null;
      if (root && typeof root === 'object' && Array.isArray(root.nodes)) {
        const nodes = root.nodes as ({ id?: unknown } | null)[];
        if (!Array.isArray(root.edges)) root.edges = [];
        (root.edges as unknown[]).push({ from: nodes[nodes.length - 1]?.id, to: nodes[m.pick % Math.max(1, nodes.length)]?.id });
      }
    } else if (m.op === 'addKey' && target && typeof target === 'object' && !Array.isArray(target)) {
      Object.defineProperty(target, m.key, { value: structuredClone(m.value), enumerable: true, writable: true, configurable: true });
    }
  }
  return holder.root;
}
