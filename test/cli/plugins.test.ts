import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = path.join(__dirname, '..', '..', 'bin', 'trellis.js');

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'trellis-cli-plugins-'));
  await fs.writeFile(path.join(dir, 'broken.mjs'), 'export const = 1;\n');
  await fs.writeFile(path.join(dir, 'plain-schema.mjs'), `export const t = { type: 'plain', configSchema: { type: 'object' }, run: async () => 1 };\n`);
  await fs.writeFile(
    path.join(dir, 'clash.mjs'),
    `export default ({ defineNodeType, Type }) => [defineNodeType({ type: 'postgres', configSchema: Type.Object({}), run: async () => 1 })];\n`,
  );
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The real launcher, run from the plugins' directory as an operator would; nothing else is reachable. */
async function trellis(args: string[], env: Record<string, string> = {}) {
  const childEnv = { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none', TEMPORAL_ADDRESS: '127.0.0.1:9', PORT: '0', TRELLIS_PLUGINS: '', ...env };
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: dir, env: childEnv, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Exit 1 and exactly one line on stderr: the reason, no stack trace. */
function expectOneLine(result: { code: number; stderr: string }, line: RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(line);
}

describe('trellis worker|api with a plugin that cannot be used', () => {
  it('a path that does not exist', async () => {
    expectOneLine(await trellis(['worker', '--plugin', './nodes.mjs']), /^trellis worker: plugin "\.\/nodes\.mjs": does not exist \(looked for .*nodes\.mjs\)$/);
  });

  it('a module that does not parse (TRELLIS_PLUGINS, for the API)', async () => {
    expectOneLine(await trellis(['api'], { TRELLIS_PLUGINS: './broken.mjs' }), /^trellis api: plugin "\.\/broken\.mjs": failed to load: SyntaxError: /);
  });

  it('a malformed config schema and a built-in name, whichever comes first', async () => {
    expectOneLine(await trellis(['api', '--plugin', './plain-schema.mjs']), /node type "plain": configSchema is not a TypeBox schema/);
    expectOneLine(await trellis(['worker', '--plugin', './clash.mjs', '--plugin', './plain-schema.mjs']), /plugin "\.\/clash\.mjs": node type "postgres" collides with the built-in type/);
  });

  it('--plugin without a value is a usage error (exit 2)', async () => {
    const result = await trellis(['worker', '--plugin']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("'--plugin <value>' argument missing");
  });
});
