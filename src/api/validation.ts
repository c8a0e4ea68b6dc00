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

/**
 * The first thing in a request Postgres could not store, or JSON too deep to serialize: U+0000,
 * unpaired UTF-16 surrogates (in strings or keys), nesting past MAX_JSON_DEPTH. Iterative, so a
 * deep body cannot overflow the stack here.
 */
export function unstorable(root: unknown, rootPath: string): { path: string; message: string } | undefined {
  const stack: [unknown, string, number][] = [[root, rootPath, 0]];
  while (stack.length > 0) {
    const [value, path, depth] = stack.pop()!;
    if (typeof value === 'string') {
      if (badText(value)) return { path, message: 'must not contain U+0000 or unpaired UTF-16 surrogates' };
    } else if (value !== null && typeof value === 'object') {
      if (depth > MAX_JSON_DEPTH) return { path, message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` };
      for (const [key, child] of Object.entries(value)) {
        const childPath = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
        if (badText(key)) return { path: childPath, message: 'must not contain U+0000 or unpaired UTF-16 surrogates' };
        stack.push([child, childPath, depth + 1]);
      }
    }
  }
  return undefined;
}
