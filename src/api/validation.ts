import Ajv, { type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const COMMON: Options = { allErrors: true, removeAdditional: false, useDefaults: true, strict: false };

/**
 * Query strings, params and headers arrive as text and must be coerced ("limit=10" → 10); a
 * JSON body arrives typed, and coercing it would store `{"name": 123}` as "123". So bodies are
 * checked strictly and the rest with coercion.
 */
export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = addFormats(new Ajv({ ...COMMON, coerceTypes: false }));
  const coercing = addFormats(new Ajv({ ...COMMON, coerceTypes: 'array' }));
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema as object);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Deeper JSON overflows JSON.stringify's stack and Postgres's jsonb limits; no definition or input needs it. */
const MAX_JSON_DEPTH = 100;
const badText = (text: string) => text.includes('\0') || LONE_SURROGATE.test(text);

/** A value still to check, and where it sits: the path is only spelled out for the one reported. */
interface Pending {
  value: unknown;
  parent: Pending | undefined;
  key: string;
  depth: number;
}

/** Strings, objects and arrays are checked; numbers, booleans and null cannot be unstorable. */
const mayHoldText = (v: unknown): boolean => v !== null && (typeof v === 'object' || typeof v === 'string');

const pointerOf = (at: Pending): string => {
  const keys: string[] = [];
  let p = at;
  for (; p.parent; p = p.parent) keys.push(p.key.replace(/~/g, '~0').replace(/\//g, '~1'));
  return p.key + keys.reverse().map((k) => `/${k}`).join(''); // p is the root: its key is the root path
};

/**
 * The first thing in a request Postgres could not store, or JSON too deep to serialize: U+0000,
 * unpaired UTF-16 surrogates (in strings or keys), nesting past MAX_JSON_DEPTH. Iterative, so a
 * deep body cannot overflow the stack here; linear in the body, and no path string is built
 * unless something is reported (a 256 KiB input of small values took 3–8 ms when every value's
 * path was built).
 */
export function unstorable(root: unknown, rootPath: string): { path: string; message: string } | undefined {
  const stack: Pending[] = [{ value: root, parent: undefined, key: rootPath, depth: 0 }];
  while (stack.length > 0) {
    const at = stack.pop()!;
    const { value, depth } = at;
    if (typeof value === 'string') {
      if (badText(value)) return { path: pointerOf(at), message: 'must not contain U+0000 or unpaired UTF-16 surrogates' };
    } else if (value !== null && typeof value === 'object') {
      if (depth > MAX_JSON_DEPTH) return { path: pointerOf(at), message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` };
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const child: unknown = value[i];
          if (mayHoldText(child)) stack.push({ value: child, parent: at, key: String(i), depth: depth + 1 });
        }
      } else {
        for (const key of Object.keys(value)) {
          const child: unknown = (value as Record<string, unknown>)[key];
          if (badText(key)) {
            return { path: pointerOf({ value: child, parent: at, key, depth: depth + 1 }), message: 'must not contain U+0000 or unpaired UTF-16 surrogates' };
          }
          if (mayHoldText(child)) stack.push({ value: child, parent: at, key, depth: depth + 1 });
        }
      }
    }
  }
  return undefined;
}
