import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { ApplicationFailure } from '@temporalio/common';
import { Type } from '@sinclair/typebox';
import { PluginError, createNodeRegistry, defineNodeType, loadPlugins, pluginSpecifiers, type NodeRunContext } from '../../src/activities';
import { createTrellisWorker } from '../../src/worker';

const ROOT = path.join(__dirname, '..', '..');
const CHECKSUM = path.join(ROOT, 'examples', 'plugins', 'checksum.mjs');
const TYPEBOX = JSON.stringify(require.resolve('@sinclair/typebox'));

let dir: string;
/** Writes a plugin module into the test's directory; returns its path relative to that directory. */
async function plugin(name: string, source: string): Promise<string> {
  await fs.writeFile(path.join(dir, name), source);
  return `./${name}`;
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-plugins-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const context = { nodeId: 'n', executionId: 'e', attempt: 1, signal: new AbortController().signal, heartbeat: () => undefined, secret: async () => undefined } satisfies NodeRunContext;

describe('the example plugin (examples/plugins/checksum.mjs)', () => {
  it('loads as is and computes a real SHA-256', async () => {
    const { nodeTypes, summary } = await loadPlugins([CHECKSUM]);
    expect(nodeTypes.map((t) => t.type)).toEqual(['checksum']);
    expect(summary).toEqual([`${CHECKSUM}: checksum`]);
    const checksum = nodeTypes[0]!;
    const sha = (text: string) => createHash('sha256').update(text).digest('hex');
    expect(await checksum.run({ data: 'abc' }, context)).toEqual({ algorithm: 'sha256', encoding: 'hex', digest: sha('abc'), bytes: 3 });
    // Objects hash as canonical JSON: key order does not matter.
    const a = (await checksum.run({ data: { b: 1, a: [1, { y: 2, x: 'é' }] } }, context)) as { digest: string };
    const b = (await checksum.run({ data: { a: [1, { x: 'é', y: 2 }], b: 1 } }, context)) as { digest: string };
    expect(a.digest).toBe(b.digest);
    expect(a.digest).toBe(sha('{"a":[1,{"x":"é","y":2}],"b":1}'));
    const mismatch = await checksum.run({ data: 'abc', expect: 'nope' }, context).catch((err: unknown) => err);
    expect(mismatch).toBeInstanceOf(ApplicationFailure);
    expect(mismatch).toMatchObject({ type: 'ChecksumMismatch', nonRetryable: true });
  });

  it('registers as an activity and its schema reaches the catalog', async () => {
    const { nodeTypes } = await loadPlugins([CHECKSUM]);
    const registry = createNodeRegistry(nodeTypes);
    expect(Object.keys(registry.activities())).toContain('checksum');
    const spec = registry.catalog().get('checksum')!;
    expect(spec.execution).toBe('activity');
    expect(Value.Check(spec.configSchema, { data: 'x', algorithm: 'sha512' })).toBe(true);
    expect(Value.Check(spec.configSchema, { data: 'x', algorithm: 'md5' })).toBe(false);
  });
});

describe('plugin specifiers', () => {
  it('reads TRELLIS_PLUGINS (comma-separated) before the --plugin flags', () => {
    expect(pluginSpecifiers(['./c.mjs'], { TRELLIS_PLUGINS: ' ./a.mjs, pkg-b ,,' })).toEqual(['./a.mjs', 'pkg-b', './c.mjs']);
    expect(pluginSpecifiers([], {})).toEqual([]);
  });

  it('loads a plugin named twice once', async () => {
    const { nodeTypes } = await loadPlugins([CHECKSUM, path.relative(process.cwd(), CHECKSUM)]);
    expect(nodeTypes).toHaveLength(1);
  });

  it('accepts named exports and CommonJS modules', async () => {
    const esm = await plugin(
      'named.mjs',
      `import { Type } from ${TYPEBOX};
       export const one = { type: 'one', configSchema: Type.Object({}), run: async () => 1 };
       export const two = [{ type: 'two', configSchema: Type.Object({}), run: async () => 2 }];
       export function helper() {}`,
    );
    const cjs = await plugin(
      'common.cjs',
      `const { Type } = require(${TYPEBOX});
       module.exports = { three: { type: 'three', configSchema: Type.Object({}), run: async () => 3 } };`,
    );
    const { nodeTypes } = await loadPlugins([esm, cjs], dir);
    expect(nodeTypes.map((t) => t.type).sort()).toEqual(['one', 'three', 'two']);
  });
});

describe('a plugin that cannot be used stops the process with one clear line', () => {
  const cases: [string, () => Promise<string[]>, RegExp][] = [
    ['a path that does not exist', async () => ['./missing.mjs'], /plugin "\.\/missing\.mjs": does not exist \(looked for .*missing\.mjs\)/],
    ['a directory', async () => ['.'], /plugin "\.": is not a file/],
    ['a package that is not installed', async () => ['no-such-trellis-plugin'], /no package of that name is installed/],
    ['a module that exports no node types', async () => [await plugin('empty.mjs', 'export const answer = 42;')], /exports no node types/],
    ['a module that does not parse', async () => [await plugin('broken.mjs', 'export const = 1;')], /failed to load: /], // the message is Node's own (vitest's loader words it differently)
    ['a module that throws while loading', async () => [await plugin('throws.mjs', 'throw new Error("no config\\nsecond line");')], /failed to load: no config$/],
    [
      'a type that collides with a built-in activity type',
      async () => [await plugin('http.mjs', `export default ({ defineNodeType, Type }) => [defineNodeType({ type: 'http', configSchema: Type.Object({}), run: async () => 1 })];`)],
      /node type "http" collides with the built-in type/,
    ],
    [
      'a type that collides with a built-in workflow type',
      async () => [await plugin('map.mjs', `export default ({ Type }) => ({ type: 'map', configSchema: Type.Object({}), run: async () => 1 });`)],
      /node type "map" collides with the built-in type/,
    ],
    [
      'a type two plugins define',
      async () => {
        const source = `export default ({ Type }) => ({ type: 'twice', configSchema: Type.Object({}), run: async () => 1 });`;
        return [await plugin('twice-a.mjs', source), await plugin('twice-b.mjs', source)];
      },
      /plugin "\.\/twice-b\.mjs": node type "twice" is also defined by plugin "\.\/twice-a\.mjs"/,
    ],
    [
      'a plain JSON Schema instead of a TypeBox one',
      async () => [await plugin('json-schema.mjs', `export const t = { type: 'plain', configSchema: { type: 'object' }, run: async () => 1 };`)],
      /node type "plain": configSchema is not a TypeBox schema/,
    ],
    [
      'a schema TypeBox cannot check',
      async () => [await plugin('unsafe.mjs', `export default ({ Type }) => [{ type: 'unsafe', configSchema: Type.Unsafe({ type: 'object' }), run: async () => 1 }];`)],
      /node type "unsafe": configSchema cannot be checked/,
    ],
    [
      'a node type without a run function',
      async () => [await plugin('norun.mjs', `export default ({ Type }) => [{ type: 'norun', configSchema: Type.Object({}) }];`)],
      /node type "norun" has no run\(config, context\) function/,
    ],
    [
      'an invalid type name',
      async () => [await plugin('badname.mjs', `export default ({ Type }) => [{ type: 'Bad Name', configSchema: Type.Object({}), run: async () => 1 }];`)],
      /node type named "Bad Name"/,
    ],
    [
      'a factory that returns something else',
      async () => [await plugin('factory.mjs', 'export default () => 42;')],
      /default export function returned a number, not a node type/,
    ],
    [
      'malformed field lists',
      async () => [await plugin('fields.mjs', `export default ({ Type }) => [{ type: 'fields', configSchema: Type.Object({}), secretFields: 'url', run: async () => 1 }];`)],
      /node type "fields": secretFields must be an array/,
    ],
  ];
  for (const [what, specifiers, message] of cases) {
    it(what, async () => {
      const err = await loadPlugins(await specifiers(), dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PluginError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
    });
  }
});

describe("a node type named like one of the worker's own activities", () => {
  it('stops the worker before it starts, instead of shadowing the activity or being shadowed', async () => {
    const impostor = defineNodeType({ type: 'recordRun', configSchema: Type.Object({}), async run() { return {}; } });
    // The check comes before the worker touches its connection.
    await expect(createTrellisWorker({ connection: undefined as never, taskQueue: 'plugins-clash', registry: createNodeRegistry([impostor]) })).rejects.toThrow(
      new PluginError(`node type "recordRun" has the name of one of the worker's own activities; rename it`),
    );
  });
});
