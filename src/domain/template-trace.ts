import { escapePointer, wholeTemplateExpression } from './expressions';

/** A whole-template config field that resolved to nothing: what a config error should quote. */
export interface EmptyTemplate {
  /** JSON pointer inside the node's config, e.g. `/url`. */
  path: string;
  expression: string;
  /** What the expression gave: null, or undefined (a path that was absent). */
  value: null | 'undefined';
}

const MAX_TRACED = 20;

/**
 * The `"{{ expr }}"` fields of `raw` whose value in `resolved` is null or absent. Sent with the
 * activity input so a node type's config check can say which expression gave what, instead of
 * only "/url: Expected string".
 */
export function emptyTemplates(raw: unknown, resolved: unknown, path = '', found: EmptyTemplate[] = []): EmptyTemplate[] {
  if (found.length >= MAX_TRACED) return found;
  if (typeof raw === 'string') {
    const expression = wholeTemplateExpression(raw);
    if (expression !== undefined && (resolved === null || resolved === undefined)) {
      found.push({ path, expression, value: resolved === null ? null : 'undefined' });
    }
    return found;
  }
  if (raw === null || typeof raw !== 'object') return found;
  const next = (resolved ?? {}) as Record<string, unknown>;
  for (const [key, value] of Object.entries(raw)) {
    emptyTemplates(value, typeof next === 'object' ? next[key] : undefined, `${path}/${escapePointer(key)}`, found);
  }
  return found;
}

/** A config error at `errorPath`, said with the template that produced the value when there is one. */
export function explainConfigError(errorPath: string, message: string, traced: readonly EmptyTemplate[] | undefined): string {
  const hit = traced?.find((t) => errorPath === t.path || errorPath.startsWith(`${t.path}/`));
  if (!hit) return `${errorPath || '/'}: ${message}`;
  const got = hit.value === null ? 'null' : 'no value';
  return `${errorPath || '/'}: ${message}, but the template "{{ ${hit.expression} }}" gave ${got}`;
}
