import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createNodeRegistry, loadPlugins } from '../../src/activities';
import type { NodeCatalog } from '../../src/domain/node-types';
import { validateDefinition } from '../../src/domain/validate';

const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'definitions.md'), 'utf8');
/** The built-ins plus the example plugin's `checksum`, which the doc shows too. */
let catalog: NodeCatalog;
beforeAll(async () => {
  const { nodeTypes } = await loadPlugins([path.join(__dirname, '..', '..', 'examples', 'plugins', 'checksum.mjs')]);
  catalog = createNodeRegistry(nodeTypes).catalog();
});

/** Every JSON value in the doc's json blocks that parses: one per block, or one per line. */
function snippets(): unknown[] {
  const out: unknown[] = [];
  for (const [, block] of doc.matchAll(/```json\n([\s\S]*?)```/g)) {
    const whole = tryParse(block!);
    if (whole !== undefined) out.push(whole);
    else for (const line of block!.split('\n')) if (tryParse(line) !== undefined) out.push(tryParse(line));
  }
  return out;
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

describe('docs/definitions.md', () => {
  const found = snippets();

  it('has an example for every built-in node type and trigger rule', () => {
    const text = JSON.stringify(found);
    for (const type of ['http', 'transform', 'condition', 'switch', 'delay', 'approval', 'postgres', 'subworkflow', 'noop', 'fail', 'map', 'loop']) {
      expect(text, type).toContain(`"type":"${type}"`);
    }
    for (const trigger of ['none_failed', 'all_done', 'one_success', 'one_failed', 'all_failed', 'none_skipped', 'always']) {
      expect(text).toContain(`"trigger":"${trigger}"`);
    }
  });

  it('shows only definitions and nodes that validate', () => {
    for (const snippet of found) {
      const s = snippet as { id?: string; nodes?: unknown[] };
      const definition = s.nodes ? { name: 'doc', ...s } : { name: 'doc', nodes: [s] };
      // A lone node reads nodes it has no edges from: that check needs the whole definition.
      const errors = validateDefinition(definition, { catalog }).errors.filter((e) => s.nodes || !e.message.startsWith('reads nodes.'));
      expect(errors, JSON.stringify(snippet)).toEqual([]);
    }
    expect(found.length).toBeGreaterThanOrEqual(14);
  });
});
