const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const clean = (text: string) => text.replaceAll('\0', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');

/**
 * jsonb refuses U+0000 and unpaired surrogates, and a mirror write that can never succeed would
 * hold its run open forever (the mirror retries without limit). Those characters become U+FFFD in
 * the mirror; Temporal's history keeps the exact value.
 */
export function storable(value: unknown): unknown {
  if (typeof value === 'string') return clean(value);
  if (Array.isArray(value)) return value.map(storable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [clean(k), storable(v)]));
  }
  return value;
}

/** A value as a jsonb parameter: JSON text, or SQL NULL for undefined. */
export function jsonParam(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(storable(value));
}
