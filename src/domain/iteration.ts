import { Type, type Static } from '@sinclair/typebox';
import { DurationSchema, type EdgeDef, type ErrorInfo, type NodeDef } from './definition';

/**
 * `map` and `loop`: node types that run a body sub-graph over run-time data (DESIGN.md §1
 * "Iteration"). Pure: schemas, limits and the planning arithmetic the workflows use.
 */

export const MAP_MAX_CONCURRENCY = 1_000;
export const MAP_DEFAULT_CONCURRENCY = 10;
export const MAP_DEFAULT_MAX_ITEMS = 10_000;
/** The highest `maxItems` a definition may ask for. */
export const MAP_MAX_ITEMS_LIMIT = 10_000_000;
export const LOOP_MAX_ITERATIONS_LIMIT = 10_000_000;
/** Bodies inside bodies: deeper nesting is refused (each level is a workflow layer). */
export const MAX_BODY_DEPTH = 8;
/** Never more than this many activities or children pending in one workflow (DESIGN.md §1). */
export const MAX_PENDING_PER_WORKFLOW = 500;
/**
 * Items in flight in one workflow. Each finishing item starts the next in the same workflow
 * task, and a task must finish within 10s: a burst of hundreds of completions, each evaluating
 * templates for its successor, did not on a loaded worker. More concurrency comes from more
 * batch children in the window.
 */
export const MAX_ITEMS_PER_WORKFLOW = 100;

/** The body is checked as a definition of its own (validate.ts); its schema here stays loose. */
const BodySchema = Type.Object(
  { nodes: Type.Array(Type.Unknown(), { minItems: 1 }), edges: Type.Optional(Type.Array(Type.Unknown())) },
  { additionalProperties: false },
);

export const ToleratedFailuresSchema = Type.Union([
  Type.Object({ count: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
  Type.Object({ percent: Type.Number({ minimum: 0, maximum: 100 }) }, { additionalProperties: false }),
]);

export const MapConfigSchema = Type.Object(
  {
    items: Type.String({ minLength: 1 }),
    body: BodySchema,
    output: Type.Optional(Type.String({ minLength: 1 })),
    maxConcurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: MAP_MAX_CONCURRENCY })),
    maxItems: Type.Optional(Type.Integer({ minimum: 0, maximum: MAP_MAX_ITEMS_LIMIT })),
    toleratedFailures: Type.Optional(ToleratedFailuresSchema),
  },
  { additionalProperties: false },
);

export const LoopConfigSchema = Type.Object(
  {
    body: BodySchema,
    until: Type.String({ minLength: 1 }),
    maxIterations: Type.Integer({ minimum: 1, maximum: LOOP_MAX_ITERATIONS_LIMIT }),
    interval: Type.Optional(DurationSchema),
    keepLast: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000 })),
  },
  { additionalProperties: false },
);

export type ToleratedFailures = Static<typeof ToleratedFailuresSchema>;
export interface Body {
  nodes: NodeDef[];
  edges?: EdgeDef[];
}
export interface MapConfig {
  items: string;
  body: Body;
  output?: string;
  maxConcurrency?: number;
  maxItems?: number;
  toleratedFailures?: ToleratedFailures;
}
export interface LoopConfig {
  body: Body;
  until: string;
  maxIterations: number;
  interval?: string | number;
  keepLast?: number;
}

export const ITERATION_TYPES: ReadonlySet<string> = new Set(['map', 'loop']);

/** The body of a map or loop node, when it has one shaped like a graph. */
export function bodyOf(node: Pick<NodeDef, 'type' | 'config'> | undefined): Body | undefined {
  if (!node || !ITERATION_TYPES.has(node.type)) return undefined;
  const body = (node.config as { body?: unknown } | undefined)?.body as Partial<Body> | undefined;
  if (!body || typeof body !== 'object' || !Array.isArray(body.nodes)) return undefined;
  return body as Body;
}

/** Every node of a definition, bodies included, depth-first, with its JSON pointer and depth. */
export function* walkNodes(nodes: readonly unknown[], path = '/nodes', depth = 0): Generator<{ node: NodeDef; path: string; depth: number }> {
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i] as NodeDef;
    if (!node || typeof node !== 'object') continue;
    yield { node, path: `${path}/${i}`, depth };
    const body = bodyOf(node);
    if (body && depth < MAX_BODY_DEPTH) yield* walkNodes(body.nodes, `${path}/${i}/config/body/nodes`, depth + 1);
  }
}

/** How many failures a map tolerates out of `total` items before it fails. */
export function toleratedCount(tolerated: ToleratedFailures | undefined, total: number): number {
  if (!tolerated) return 0;
  if ('count' in tolerated) return tolerated.count;
  return Math.floor((tolerated.percent / 100) * total + 1e-9);
}

/** Sinks of a body: nodes nothing in the body depends on, in definition order. */
export function sinkIds(body: Body): string[] {
  const sources = new Set((body.edges ?? []).map((e) => e.from));
  return body.nodes.map((n) => n.id).filter((id) => !sources.has(id));
}

/**
 * One item's (or iteration's) result by the sink rule: the output of the single sink, or an
 * object keyed by sink id when there are several. Sinks that did not succeed give null.
 */
export function sinkResult(sinks: readonly string[], outputs: ReadonlyMap<string, unknown>): unknown {
  if (sinks.length === 1) return outputs.get(sinks[0]!) ?? null;
  return Object.fromEntries(sinks.map((id) => [id, outputs.get(id) ?? null]));
}

/** A half-open range of item indexes `[start, end)`. */
export interface ItemRange {
  start: number;
  end: number;
}

/** Splits `[0, total)` into consecutive ranges of at most `size` items. */
export function itemRanges(total: number, size: number): ItemRange[] {
  const step = Math.max(1, Math.floor(size));
  const ranges: ItemRange[] = [];
  for (let start = 0; start < total; start += step) ranges.push({ start, end: Math.min(total, start + step) });
  return ranges;
}

/**
 * How many history-costing operations (activities, timers, children) one run of a body starts
 * at most: inline nodes cost nothing, everything else one. At least 1, so sizing never divides by 0.
 */
export function bodyCost(body: Body, isInline: (type: string) => boolean): number {
  return Math.max(1, body.nodes.filter((n) => !isInline(n.type)).length);
}

/**
 * Body operations per batch child. Small enough that replaying a whole batch's history (after a
 * worker restart or cache eviction) stays well inside the 10s workflow task timeout on a busy
 * worker; 1,000 did not on a loaded 2-core machine.
 */
export const OPERATIONS_PER_HISTORY = 250;
/** Item payload bytes per batch child (its input is one payload in its history). */
export const BATCH_INPUT_BYTES = 512 * 1024;

/**
 * How a map spreads its items: items per batch child, and how many batches and items per batch
 * may run at once. `inline` when the whole map fits in the current workflow's history budget.
 */
export interface MapPlan {
  inline: boolean;
  batchSize: number;
  /** Batch children running at once (sliding window). */
  window: number;
  /** Items in flight inside one workflow. */
  itemsPerWorkflow: number;
}

export function planMap(
  total: number,
  cost: number,
  maxConcurrency: number,
  inlineBudget = 200,
  batchItems?: number,
): MapPlan {
  const widest = Math.max(1, Math.floor(MAX_PENDING_PER_WORKFLOW / cost));
  const inOneWorkflow = Math.max(1, Math.min(maxConcurrency, widest, MAX_ITEMS_PER_WORKFLOW));
  if (total * cost <= inlineBudget) return { inline: true, batchSize: total, window: 1, itemsPerWorkflow: inOneWorkflow };
  const batchSize = Math.max(1, Math.min(batchItems ?? Infinity, Math.floor(OPERATIONS_PER_HISTORY / cost)));
  // Spread the concurrency over several batches at once (up to 4 per window): their workflow
  // tasks run side by side and one batch's tail does not idle the whole map.
  const itemsPerWorkflow = Math.max(1, Math.min(inOneWorkflow, batchSize, Math.ceil(maxConcurrency / 4)));
  const window = Math.max(1, Math.min(MAX_PENDING_PER_WORKFLOW, Math.floor(maxConcurrency / itemsPerWorkflow)));
  return { inline: false, batchSize, window, itemsPerWorkflow };
}

/** Cuts a range further so no batch's items exceed the byte budget (sizes known per item). */
export function splitBySize(range: ItemRange, sizeOf: (index: number) => number, maxBytes = BATCH_INPUT_BYTES): ItemRange[] {
  const out: ItemRange[] = [];
  let start = range.start;
  let bytes = 0;
  for (let i = range.start; i < range.end; i++) {
    const size = sizeOf(i);
    if (i > start && bytes + size > maxBytes) {
      out.push({ start, end: i });
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < range.end) out.push({ start, end: range.end });
  return out;
}

/** The outcome of one item (or one loop iteration). */
export interface ItemOutcome {
  index: number;
  status: 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  output?: unknown;
  error?: ErrorInfo;
  attempt?: number;
}

export interface MapCounts {
  total: number;
  succeeded: number;
  failed: number;
}

/** A map node's output (DESIGN.md §1). `results` may be a stored reference when large. */
export interface MapOutput {
  results: unknown;
  counts: MapCounts;
  failures: { index: number; error: ErrorInfo }[];
}

/** Folds item outcomes into the map output; items without an outcome count as cancelled failures. */
export function mapOutput(total: number, outcomes: Iterable<ItemOutcome>): MapOutput {
  const results: unknown[] = new Array<unknown>(total).fill(null);
  const seen = new Array<boolean>(total).fill(false);
  const failures: { index: number; error: ErrorInfo }[] = [];
  let succeeded = 0;
  for (const o of outcomes) {
    if (o.index < 0 || o.index >= total || seen[o.index]) continue;
    seen[o.index] = true;
    if (o.status === 'SUCCEEDED') {
      succeeded++;
      results[o.index] = o.output ?? null;
    } else {
      failures.push({ index: o.index, error: o.error ?? { type: 'Cancelled', message: 'cancelled' } });
    }
  }
  for (let i = 0; i < total; i++) {
    if (!seen[i]) failures.push({ index: i, error: { type: 'Cancelled', message: 'not run: the map stopped first' } });
  }
  failures.sort((a, b) => a.index - b.index);
  return { results, counts: { total, succeeded, failed: total - succeeded }, failures };
}

/**
 * Retry from failure: which items of an earlier map output must run again (the ones in its
 * `failures`), and the reusable results of the others. Undefined when the output is unusable.
 */
export function reusableItems(previous: unknown, total: number): Map<number, unknown> | undefined {
  const p = previous as Partial<MapOutput> | null;
  if (!p || !Array.isArray(p.results) || p.results.length !== total || !Array.isArray(p.failures)) return undefined;
  const failed = new Set(p.failures.map((f) => f?.index));
  const reuse = new Map<number, unknown>();
  p.results.forEach((r, i) => {
    if (!failed.has(i)) reuse.set(i, r);
  });
  return reuse;
}
