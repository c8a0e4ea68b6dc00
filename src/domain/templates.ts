/**
 * The `{{ expr }}` template grammar: splitting strings into text and expression parts, finding
 * every template in a config value, JSON pointers. Its own file because both the expression
 * engine (expressions.ts) and the secret grammar (secrets.ts) build on it.
 */
export type TemplatePart = { text: string } | { expression: string };

const TEMPLATE = /\{\{([\s\S]*?)\}\}/g;

/** Splits a string into literal text and `{{ expr }}` parts; undefined when it has no template. */
export function parseTemplate(value: string): TemplatePart[] | undefined {
  if (!value.includes('{{')) return undefined;
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of value.matchAll(TEMPLATE)) {
    const index = match.index ?? 0;
    if (index > last) parts.push({ text: value.slice(last, index) });
    parts.push({ expression: (match[1] ?? '').trim() });
    last = index + match[0].length;
  }
  if (parts.length === 0) return undefined;
  if (last < value.length) parts.push({ text: value.slice(last) });
  return parts;
}

/** A string that is exactly one `{{ expr }}` (surrounding blanks aside) yields any JSON type. */
export function wholeTemplateExpression(value: string): string | undefined {
  const parts = parseTemplate(value.trim());
  if (parts?.length === 1 && 'expression' in parts[0]!) return parts[0].expression;
  return undefined;
}

/** Every template expression found anywhere in a config value, with its JSON pointer path. */
export function* templateExpressions(value: unknown, path: string): Generator<{ path: string; expression: string }> {
  if (typeof value === 'string') {
    for (const part of parseTemplate(value) ?? []) {
      if ('expression' in part) yield { path, expression: part.expression };
    }
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* templateExpressions(value[i], `${path}/${i}`);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) yield* templateExpressions(child, `${path}/${escapePointer(key)}`);
  }
}

/** Whether any string in a config value (outside `skipKeys` at the top) holds a `{{ }}` template. */
export function containsTemplate(value: unknown, skipKeys: readonly string[] = []): boolean {
  if (typeof value === 'string') return value.includes('{{');
  if (Array.isArray(value)) return value.some((item) => containsTemplate(item));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([key, child]) => !skipKeys.includes(key) && containsTemplate(child));
  }
  return false;
}

/** One key as a JSON pointer segment (RFC 6901). */
export function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
