/**
 * Postgres `jsonb` keeps object keys sorted by length, not as written, so a stored definition
 * reads back with `edges` before `nodes` and `to` before `from`. Reading it back, keys are put in
 * the order DESIGN.md §1 shows them; keys it does not know keep their place after those.
 */
const TOP = ['name', 'description', 'defaults', 'nodes', 'edges'];
const NODE = ['id', 'type', 'name', 'trigger', 'onError', 'config', 'retry', 'timeout'];
const EDGE = ['from', 'to', 'when', 'on'];
const DEFAULTS = ['retry', 'timeout', 'maxConcurrency'];
const RETRY = ['maximumAttempts', 'initialInterval', 'backoffCoefficient', 'maximumInterval', 'nonRetryableErrorTypes'];
const TIMEOUT = ['startToClose', 'scheduleToClose', 'scheduleToStart', 'heartbeat'];
/** The built-in node types' config fields, in the order their docs list them. */
const CONFIG = [
  'method', 'url', 'query', 'headers', 'body', 'expectStatus', 'timeoutMs',
  'connection', 'sql', 'params',
  'expression',
  'duration', 'until',
  'timeout', 'onTimeout', 'message',
  'workflowId', 'version', 'input',
  'type',
]; // prettier-ignore

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

function ordered(value: Json, order: readonly string[], children: Record<string, (v: unknown) => unknown> = {}): Json {
  const out: Json = {};
  for (const key of order) if (key in value) out[key] = value[key];
  for (const key of Object.keys(value)) if (!(key in out)) out[key] = value[key];
  for (const [key, fix] of Object.entries(children)) if (key in out) out[key] = fix(out[key]);
  return out;
}

const policies = { retry: (v: unknown) => (isObject(v) ? ordered(v, RETRY) : v), timeout: (v: unknown) => (isObject(v) ? ordered(v, TIMEOUT) : v) };
const node = (v: unknown) => (isObject(v) ? ordered(v, NODE, { ...policies, config: (c) => (isObject(c) ? ordered(c, CONFIG) : c) }) : v);
const edge = (v: unknown) => (isObject(v) ? ordered(v, EDGE) : v);

/** The definition with its keys in DESIGN.md's order (same content; a non-object comes back as is). */
export function canonicalKeyOrder<T>(definition: T): T {
  if (!isObject(definition)) return definition;
  return ordered(definition, TOP, {
    defaults: (d) => (isObject(d) ? ordered(d, DEFAULTS, policies) : d),
    nodes: (n) => (Array.isArray(n) ? n.map(node) : n),
    edges: (e) => (Array.isArray(e) ? e.map(edge) : e),
  }) as T;
}
