import { setting, type Environment } from '../config';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Type, TypeGuard } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ApplicationFailure } from '@temporalio/common';
import { BUILTIN_CATALOG } from '../domain/node-types';
import { builtinActivityNodeTypes } from './nodes';
import { NODE_TYPE_NAME, defineNodeType, type NodeType } from './registry';

/**
 * Operator-supplied node type modules (`trellis worker|api --plugin FILE`, TRELLIS_PLUGINS).
 * They are trusted code, like the processes that load them, but a mistake in one must stop the
 * process with one line saying what is wrong, never a stack trace or a type silently missing.
 */
export const PLUGINS_ENV = 'TRELLIS_PLUGINS';

/** A plugin that cannot be used; its message is one line naming the plugin. */
export class PluginError extends Error {
  override name = 'PluginError';
}

/**
 * What a plugin's default-exported function receives: a plugin outside this package (e.g. a file
 * mounted into the container) can build its node types without resolving any package itself.
 */
export interface PluginApi {
  defineNodeType: typeof defineNodeType;
  /** TypeBox's builder, for config schemas. */
  Type: typeof Type;
  /** Throw `ApplicationFailure.nonRetryable(message, type)` for a failure that must not be retried. */
  ApplicationFailure: typeof ApplicationFailure;
}

export const PLUGIN_API: PluginApi = Object.freeze({ defineNodeType, Type, ApplicationFailure });

/** The plugins to load: TRELLIS_PLUGINS (comma-separated), then each `--plugin`. */
export function pluginSpecifiers(flags: readonly string[] = [], env?: Environment): string[] {
  const fromEnv = env ? (env[PLUGINS_ENV] ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0) : [...setting('TRELLIS_PLUGINS')];
  return [...fromEnv, ...flags];
}

export interface LoadedPlugins {
  nodeTypes: NodeType[];
  /** One line per plugin for the process log, e.g. `./my-nodes.mjs: checksum, slack`. */
  summary: string[];
}

/**
 * Imports each plugin and collects its node types, checked as the registry and validation will
 * use them. A module may export node types (named exports, or a default node type or array), or
 * a default function that receives PLUGIN_API and returns them.
 */
export async function loadPlugins(specifiers: readonly string[], cwd: string = process.cwd()): Promise<LoadedPlugins> {
  const builtins = new Set([...BUILTIN_CATALOG.keys(), ...builtinActivityNodeTypes.map((t) => t.type)]);
  const owners = new Map<string, string>();
  const files = new Set<string>();
  const nodeTypes: NodeType[] = [];
  const summary: string[] = [];
  for (const specifier of specifiers) {
    const file = resolvePlugin(specifier, cwd);
    if (files.has(file)) continue; // named twice (env and flag): load once
    files.add(file);
    const found = await nodeTypesOf(specifier, file);
    if (found.length === 0) {
      fail(specifier, 'exports no node types (export defineNodeType(...) values, an array of them, or a default function returning them)');
    }
    for (const nodeType of found) {
      checkNodeType(specifier, nodeType);
      if (builtins.has(nodeType.type)) fail(specifier, `node type "${nodeType.type}" collides with the built-in type of that name; rename it`);
      const owner = owners.get(nodeType.type);
      if (owner !== undefined) fail(specifier, `node type "${nodeType.type}" is also defined by plugin "${owner}"`);
      owners.set(nodeType.type, specifier);
      nodeTypes.push(nodeType);
    }
    summary.push(`${specifier}: ${found.map((t) => t.type).join(', ')}`);
  }
  return { nodeTypes, summary };
}

function fail(specifier: string, problem: string): never {
  throw new PluginError(`plugin "${specifier}": ${problem}`.replace(/\s*\n\s*/g, ' '));
}

/** A path (relative to the working directory) or, without `./`, `/` or a .js extension, a package name. */
function resolvePlugin(specifier: string, cwd: string): string {
  const isPath = specifier.startsWith('.') || path.isAbsolute(specifier) || /\.[cm]?js$/.test(specifier);
  if (isPath) {
    const file = path.resolve(cwd, specifier);
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      fail(specifier, `does not exist (looked for ${file})`);
    }
    if (!stat.isFile()) fail(specifier, `is not a file (${file})`);
    return file;
  }
  // A package: from the working directory first (the operator's project), then from Trellis's own.
  for (const base of [path.join(cwd, 'package.json'), __filename]) {
    try {
      return createRequire(base).resolve(specifier);
    } catch {
      // try the next base
    }
  }
  fail(specifier, `is not a file path and no package of that name is installed (from ${cwd}); write a path as ./${specifier}`);
}

async function nodeTypesOf(specifier: string, file: string): Promise<NodeType[]> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    fail(specifier, `failed to load: ${firstLine(err)}`);
  }
  const found = new Set<unknown>();
  const collect = (value: unknown, where: string) => {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (looksLikeNodeType(item)) found.add(item);
      else if (Array.isArray(value)) fail(specifier, `${where} holds something that is not a node type (${describe(item)})`);
    }
  };
  let exported = module.default;
  if (typeof exported === 'function') {
    try {
      exported = await (exported as (api: PluginApi) => unknown)(PLUGIN_API);
    } catch (err) {
      fail(specifier, `default export threw: ${firstLine(err)}`);
    }
    if (!Array.isArray(exported) && !looksLikeNodeType(exported)) {
      fail(specifier, `default export function returned ${describe(exported)}, not a node type or an array of them`);
    }
    collect(exported, 'the array its default export returned');
  } else if (Array.isArray(exported) || looksLikeNodeType(exported)) {
    collect(exported, 'its default export');
  } else if (exported !== null && typeof exported === 'object') {
    // CommonJS `module.exports = { a, b }` arrives as the default export.
    for (const [name, value] of Object.entries(exported)) if (looksLikeNodeType(value)) collect(value, `export "${name}"`);
  }
  for (const [name, value] of Object.entries(module)) {
    if (name === 'default' || name === 'module.exports') continue;
    if (looksLikeNodeType(value) || (Array.isArray(value) && value.some(looksLikeNodeType))) collect(value, `export "${name}"`);
  }
  return [...found] as NodeType[];
}

/** Anything with a `run` function or a `configSchema` is meant as a node type, and checked as one. */
function looksLikeNodeType(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.run === 'function' || 'configSchema' in v;
}

function checkNodeType(specifier: string, nodeType: NodeType): void {
  const t = nodeType as unknown as Record<string, unknown>;
  if (typeof t.type !== 'string' || !NODE_TYPE_NAME.test(t.type)) {
    fail(specifier, `has a node type named ${describe(t.type)}: a name is a lowercase letter, then up to 63 letters, digits, "_", "." or "-"`);
  }
  const label = `node type "${t.type}"`;
  if (typeof t.run !== 'function') fail(specifier, `${label} has no run(config, context) function`);
  if (!TypeGuard.IsSchema(t.configSchema)) {
    fail(specifier, `${label}: configSchema is not a TypeBox schema (build it with Type, from the plugin API or @sinclair/typebox)`);
  }
  try {
    Value.Check(t.configSchema, {});
  } catch (err) {
    fail(specifier, `${label}: configSchema cannot be checked: ${firstLine(err)}`);
  }
  for (const field of ['durationFields', 'literalFields', 'secretFields'] as const) {
    const list = t[field];
    if (list !== undefined && !(Array.isArray(list) && list.every((f) => typeof f === 'string'))) {
      fail(specifier, `${label}: ${field} must be an array of config field names`);
    }
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
  return text.split('\n')[0]!.slice(0, 300);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 80));
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
