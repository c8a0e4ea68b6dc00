import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createNodeRegistry } from '../../src/activities';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { parseExpression, templateExpressions } from '../../src/domain/expressions';
import { BUILTIN_CATALOG } from '../../src/domain/node-types';
import { validateDefinition } from '../../src/domain/validate';
import { bodyOf } from '../../src/domain/iteration';

const EXAMPLES_DIR = path.join(__dirname, '..', '..', 'examples');
const EXPECTED = [
  'approval-gate.json',
  'branch-and-join.json',
  'fan-out-over-list.json',
  'fetch-transform-post.json',
  'scheduled-report-postgres.json',
  'map-over-orders.json',
  'poll-until-done.json',
];

interface Example {
  name: string;
  description: string;
  definition: WorkflowDefinition;
  sampleInput: Record<string, unknown>;
}

const files = fs.readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.json')).sort();
const examples = files.map((file) => ({
  file,
  example: JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, file), 'utf8')) as Example,
}));
const catalog = createNodeRegistry().catalog();

/** Every JSONata expression of a node: `{{ }}` templates in its config plus its raw expression fields. */
function expressionsOf(node: WorkflowDefinition['nodes'][number]): { where: string; expression: string }[] {
  const config = node.config ?? {};
  const raw = new Set(BUILTIN_CATALOG.get(node.type)?.expressionFields ?? []);
  const found: { where: string; expression: string }[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (key === 'body' && bodyOf(node)) continue; // checked node by node, in its own graph
    if (raw.has(key) && typeof value === 'string') found.push({ where: `${node.id}/config/${key}`, expression: value });
    else for (const t of templateExpressions(value, `${node.id}/config/${key}`)) found.push({ where: t.path, expression: t.expression });
  }
  return found;
}

/** The `input.<key>` and `nodes.<id>` paths an expression reads, from its parsed AST. */
function references(expression: string): { input: Set<string>; nodes: Set<string> } {
  const refs = { input: new Set<string>(), nodes: new Set<string>() };
  const seen = new Set<unknown>();
  const visit = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || seen.has(value)) return;
    seen.add(value);
    const node = value as { type?: string; steps?: { type?: string; value?: unknown }[] };
    if (node.type === 'path' && Array.isArray(node.steps)) {
      const [head, next] = node.steps;
      if (head?.type === 'name' && (head.value === 'input' || head.value === 'nodes')) {
        expect(next?.type, `"${expression}": ${String(head.value)} must be followed by a plain key`).toBe('name');
        refs[head.value].add(String(next!.value));
      }
    }
    for (const child of Object.values(value as object)) visit(child);
  };
  visit(parseExpression(expression));
  return refs;
}

/** Every node upstream of `id` (along any edge): the only nodes whose results it can see. */
function ancestors(def: WorkflowDefinition, id: string): Set<string> {
  const found = new Set<string>();
  const queue = [id];
  while (queue.length) {
    const current = queue.pop()!;
    for (const edge of def.edges ?? []) {
      if (edge.to === current && !found.has(edge.from)) {
        found.add(edge.from);
        queue.push(edge.from);
      }
    }
  }
  return found;
}

describe('examples/', () => {
  it('holds the documented examples, each listed in examples/README.md', () => {
    expect(files).toEqual(expect.arrayContaining(EXPECTED));
    const readme = fs.readFileSync(path.join(EXAMPLES_DIR, 'README.md'), 'utf8');
    for (const file of files) expect(readme, `${file} is described in examples/README.md`).toContain(file);
  });

  describe.each(examples)('$file', ({ file, example }) => {
    it('has name, description, definition and sampleInput', () => {
      expect(Object.keys(example).sort()).toEqual(['definition', 'description', 'name', 'sampleInput']);
      expect(example.name).toBe(file.replace(/\.json$/, ''));
      expect(example.definition.name).toBe(example.name);
      expect(typeof example.description).toBe('string');
      expect(example.sampleInput).toBeTypeOf('object');
    });

    it('validates with zero errors against the node registry', () => {
      const result = validateDefinition(example.definition, { catalog });
      expect(result.errors).toEqual([]);
      expect(result.valid).toBe(true);
    });

    it('reads only inputs in sampleInput and nodes upstream of the reader', () => {
      const def = example.definition;
      const ids = new Set(def.nodes.map((n) => n.id));
      const problems: string[] = [];
      let count = 0;
      // A body node sees body nodes upstream of it and the map/loop node's upstream; the node's
      // own `output` / `until` sees every body node.
      const readers = def.nodes.flatMap((node) => {
        const body = bodyOf(node);
        const outer = ancestors(def, node.id);
        const own = { node, upstream: body ? new Set([...outer, ...body.nodes.map((n) => n.id)]) : outer };
        const inner = (body?.nodes ?? []).map((child) => ({
          node: child,
          upstream: new Set([...outer, ...ancestors({ name: 'body', nodes: body!.nodes, edges: body!.edges }, child.id)]),
        }));
        return [own, ...inner];
      });
      for (const id of readers.map((r) => r.node.id)) ids.add(id);
      for (const { node, upstream } of readers) {
        for (const { where, expression } of expressionsOf(node)) {
          count++;
          const refs = references(expression);
          for (const key of refs.input) if (!(key in example.sampleInput)) problems.push(`${where}: input.${key} is not in sampleInput`);
          for (const id of refs.nodes) {
            if (!ids.has(id)) problems.push(`${where}: nodes.${id} is not a node`);
            else if (!upstream.has(id)) problems.push(`${where}: nodes.${id} is not upstream of ${node.id}`);
          }
        }
      }
      expect(problems).toEqual([]);
      expect(count).toBeGreaterThan(0);
    });
  });

  it('covers what each example is meant to show', () => {
    const byName = new Map(examples.map(({ example }) => [example.name, example.definition]));
    const types = (name: string) => byName.get(name)!.nodes.map((n) => n.type);

    expect(types('fetch-transform-post')).toEqual(['http', 'transform', 'http']);
    const fetchNodes = byName.get('fetch-transform-post')!.nodes;
    expect([fetchNodes[0]!.config?.method, fetchNodes[2]!.config?.method]).toEqual(['GET', 'POST']);

    const branch = byName.get('branch-and-join')!;
    expect(branch.nodes.some((n) => n.type === 'condition')).toBe(true);
    expect(branch.edges!.map((e) => e.when).filter(Boolean).sort()).toEqual(['false', 'true']);
    expect(branch.nodes.some((n) => n.trigger === 'none_failed')).toBe(true);

    const gate = byName.get('approval-gate')!;
    const approval = gate.nodes.find((n) => n.type === 'approval')!;
    expect(approval.config).toMatchObject({ timeout: expect.anything(), onTimeout: 'reject' });
    expect(gate.edges).toContainEqual(expect.objectContaining({ from: approval.id, on: 'error' }));
    expect(gate.nodes.some((n) => n.trigger === 'all_done')).toBe(true);

    const report = byName.get('scheduled-report-postgres')!;
    const pgNode = report.nodes.find((n) => n.type === 'postgres')!;
    expect(pgNode.config).toMatchObject({ connection: 'reports', params: expect.any(Array) });
    expect(types('scheduled-report-postgres')).toEqual(expect.arrayContaining(['transform', 'http']));

    const fan = byName.get('fan-out-over-list')!;
    const checks = fan.nodes.filter((n) => n.type === 'http' && fan.edges!.every((e) => e.to !== n.id));
    expect(checks.length).toBeGreaterThanOrEqual(5);
    expect(fan.defaults?.maxConcurrency).toBeGreaterThanOrEqual(1);
    const joins = fan.nodes.filter((n) => checks.every((c) => fan.edges!.some((e) => e.from === c.id && e.to === n.id)));
    expect(joins).toHaveLength(1);

    const orders = byName.get('map-over-orders')!;
    const map = orders.nodes.find((n) => n.type === 'map')!;
    expect(map.config).toMatchObject({ items: expect.any(String), toleratedFailures: expect.anything(), output: expect.any(String) });
    expect(bodyOf(map)!.nodes.map((n) => n.type)).toEqual(['http', 'transform']);
    expect(orders.edges).toContainEqual({ from: map.id, to: 'summarise' });

    const poll = byName.get('poll-until-done')!;
    const loop = poll.nodes.find((n) => n.type === 'loop')!;
    expect(loop.config).toMatchObject({ until: expect.any(String), maxIterations: expect.any(Number), interval: '30s' });
  });
});
