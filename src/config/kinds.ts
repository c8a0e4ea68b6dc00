import { Type, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * The kinds of value a setting takes. Each pairs a TypeBox schema (what the parsed value must be,
 * and what the generated docs show) with a strict parser of the environment's text: TypeBox's own
 * conversion truncates "1.5" to 1 and lets "yes" through as a string, which is exactly the silent
 * misreading this module exists to stop.
 */

/** Which process a setting is required by (DESIGN §7: only dev mode runs without a database). */
export type Role = 'api' | 'worker' | 'migrate' | 'dev' | 'cli' | 'library';

export type Group = 'Database' | 'Temporal' | 'API' | 'Worker' | 'Keys' | 'Limits' | 'Observability' | 'Development' | 'CLI';

export interface Setting<T> {
  group: Group;
  description: string;
  /** The parsed value's schema (docs, and checked after parsing). */
  schema: TSchema;
  /** One phrase for the docs' type column and for error messages ("an integer from 1 to 1000"). */
  expects: string;
  parse(text: string): T;
  default?: T;
  /** How the docs show the default when it is not the value's JSON (e.g. "SDK default"). */
  defaultText?: string;
  /** Masked by `trellis config` and never logged. */
  secret?: boolean;
  /** Processes that refuse to start without it. */
  requiredBy?: readonly Role[];
}

/** What `parse` throws: the text is not a value of the kind; the loader names the variable. */
export class SettingRejected extends Error {}

function checked<T>(schema: TSchema, value: T, expects: string): T {
  if (!Value.Check(schema, value)) throw new SettingRejected(expects);
  return value;
}

type Extra<T> = Omit<Setting<T>, 'schema' | 'expects' | 'parse' | 'group' | 'description'>;
type Defaulted<T> = Setting<T> & { default: T };

function make<T>(group: Group, description: string, schema: TSchema, expects: string, parse: (text: string) => T, extra: Extra<T>): Setting<T> {
  return { group, description, schema, expects, parse, ...extra };
}

export function text(group: Group, description: string, extra: Extra<string> & { default: string }): Defaulted<string>;
export function text(group: Group, description: string, extra?: Extra<string>): Setting<string>;
export function text(group: Group, description: string, extra: Extra<string> = {}): Setting<string> {
  return make(group, description, Type.String(), 'text', (t) => t, extra);
}

/** A URL with one of `protocols` (e.g. postgres:, postgresql:). */
export function url(group: Group, description: string, protocols: readonly string[], extra: Extra<string> = {}): Setting<string> {
  const expects = `a URL (${protocols.map((p) => `${p}//`).join(' or ')})`;
  return make(group, description, Type.String({ format: 'uri' }), expects, (t) => {
    let parsed: URL;
    try {
      parsed = new URL(t);
    } catch {
      throw new SettingRejected(expects);
    }
    if (!protocols.includes(parsed.protocol)) throw new SettingRejected(expects);
    return t;
  }, extra);
}

export function integer(group: Group, description: string, range: { min: number; max: number }, extra: Extra<number> & { default: number }): Defaulted<number>;
export function integer(group: Group, description: string, range: { min: number; max: number }, extra?: Extra<number>): Setting<number>;
export function integer(group: Group, description: string, range: { min: number; max: number }, extra: Extra<number> = {}): Setting<number> {
  const schema = Type.Integer({ minimum: range.min, maximum: range.max });
  const expects = `an integer from ${range.min} to ${range.max}`;
  return make(group, description, schema, expects, (t) => {
    if (!/^-?[0-9]{1,16}$/.test(t.trim())) throw new SettingRejected(expects);
    return checked(schema, Number(t.trim()), expects);
  }, extra);
}

/** A decimal number from 0 to 1 (a ratio, e.g. a sampling probability). */
export function fraction(group: Group, description: string, extra: Extra<number> & { default: number }): Defaulted<number> {
  const schema = Type.Number({ minimum: 0, maximum: 1 });
  const expects = 'a number from 0 to 1';
  return make(group, description, schema, expects, (t) => {
    if (!/^(0|1)?(\.[0-9]{1,16})?$/.test(t.trim()) || t.trim() === '' || t.trim() === '.') throw new SettingRejected(expects);
    return checked(schema, Number(t.trim()), expects);
  }, extra) as Defaulted<number>;
}

const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];

export function flag(group: Group, description: string, extra: Extra<boolean> & { default: boolean }): Defaulted<boolean>;
export function flag(group: Group, description: string, extra?: Extra<boolean>): Setting<boolean>;
export function flag(group: Group, description: string, extra: Extra<boolean> = {}): Setting<boolean> {
  const expects = 'true or false (also 1/0, yes/no, on/off)';
  return make(group, description, Type.Boolean(), expects, (t) => {
    const lower = t.trim().toLowerCase();
    if (TRUE.includes(lower)) return true;
    if (FALSE.includes(lower)) return false;
    throw new SettingRejected(expects);
  }, extra);
}

export function oneOf<const V extends string>(group: Group, description: string, values: readonly V[], extra: Extra<V> & { default: V }): Defaulted<V> {
  const expects = `one of ${values.join(', ')}`;
  return make(group, description, Type.Union(values.map((v) => Type.Literal(v))), expects, (t) => {
    const lower = t.trim().toLowerCase() as V;
    if (!values.includes(lower)) throw new SettingRejected(expects);
    return lower;
  }, extra) as Defaulted<V>;
}

/** Comma-separated, blanks dropped. */
export function list(group: Group, description: string, extra: Extra<readonly string[]> & { default: readonly string[] }): Defaulted<readonly string[]> {
  return make(group, description, Type.Array(Type.String()), 'a comma-separated list', (t) => t.split(',').map((s) => s.trim()).filter(Boolean), extra) as Defaulted<
    readonly string[]
  >;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as `30s`, `500ms`, `5m`, `1h`, `30d`; parsed to milliseconds. */
export function duration(group: Group, description: string, range: { minMs: number; maxMs: number }, extra: Extra<number> & { default: number }): Defaulted<number>;
export function duration(group: Group, description: string, range: { minMs: number; maxMs: number }, extra?: Extra<number>): Setting<number>;
export function duration(group: Group, description: string, range: { minMs: number; maxMs: number }, extra: Extra<number> = {}): Setting<number> {
  const expects = `a duration such as 500ms, 30s, 5m, 1h or 2d, from ${formatDuration(range.minMs)} to ${formatDuration(range.maxMs)}`;
  const schema = Type.Integer({ minimum: range.minMs, maximum: range.maxMs });
  return make(group, description, schema, expects, (t) => {
    const match = /^([0-9]{1,9})(ms|s|m|h|d)$/.exec(t.trim());
    if (!match) throw new SettingRejected(expects);
    return checked(schema, Number(match[1]) * UNIT_MS[match[2]!]!, expects);
  }, extra);
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
