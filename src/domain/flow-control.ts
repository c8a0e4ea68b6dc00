import { Type, type Static } from '@sinclair/typebox';
import { parseDuration } from './duration';
import { expressionProblem, parseExpression, parseTemplate } from './expressions';
import { mentionsSecrets, secretRefName } from './secrets';

/*
 * Flow control across runs (DESIGN.md §5): the definition fields, their save-time rules and the
 * pure helpers the workflow and the limiter share. No I/O here.
 */

/** Keys (literal, and once evaluated) are at most this long. */
export const MAX_LIMIT_KEY_LENGTH = 200;
/** A limit beyond this is no limit worth tracking per key (and bounds the limiter's state). */
export const MAX_LIMIT = 10_000;
export const MIN_RATE_WINDOW_MS = 100;
export const MAX_RATE_WINDOW_MS = 86_400_000;

/** Same shape as the definition's DurationSchema (declared here: definition.ts imports this module). */
const DurationSchema = Type.Union([Type.String({ minLength: 1 }), Type.Number({ minimum: 0 })]);
const KeySchema = Type.String({ minLength: 1, maxLength: MAX_LIMIT_KEY_LENGTH });
const LimitSchema = Type.Integer({ minimum: 1, maximum: MAX_LIMIT });

/** Run level: at most `limit` runs per evaluated key past QUEUED at once. */
export const RunConcurrencySchema = Type.Object(
  {
    key: Type.Optional(KeySchema),
    limit: LimitSchema,
    onLimit: Type.Optional(Type.Union([Type.Literal('queue'), Type.Literal('drop'), Type.Literal('replace')])),
  },
  { additionalProperties: false },
);

/** Node level: at most `limit` attempts with the same key in flight across the tenant's runs. */
export const NodeConcurrencySchema = Type.Object({ key: KeySchema, limit: LimitSchema }, { additionalProperties: false });

/** Node level: at most `limit` attempts start in any sliding window of length `per`. */
export const RateLimitSchema = Type.Object({ key: KeySchema, limit: LimitSchema, per: DurationSchema }, { additionalProperties: false });

/** Whether a node has a node-level concurrency or rateLimit (each attempt then asks its limiter). */
export function hasNodeLimits(node: { concurrency?: unknown; rateLimit?: unknown }): boolean {
  return node.concurrency !== undefined || node.rateLimit !== undefined;
}

export type RunConcurrency = Static<typeof RunConcurrencySchema>;
export type NodeConcurrency = Static<typeof NodeConcurrencySchema>;
export type RateLimit = Static<typeof RateLimitSchema>;

export type LimitKind = 'concurrency' | 'rateLimit';
/** What a limiter counts: node attempts (the node kinds) or runs of one workflow past QUEUED. */
export type LimiterKind = LimitKind | 'run';
export type OnLimit = 'queue' | 'drop' | 'replace';

/** The key of a run-level limit without one: every run of the workflow shares it. */
export const SHARED_RUN_KEY = '*';

/** Why a node waits for its turn (the node's `waitingFor`). */
export interface WaitingFor {
  kind: LimitKind | 'tenantShare';
  key: string;
}

interface Problem {
  path: string;
  message: string;
}

/** What a key template may read at each level. */
const RUN_KEY_ROOTS = new Set(['input']);

/**
 * Save-time rules of the top-level `concurrency` (the schema has checked its shape): the key is
 * a literal or a template that reads only `input` (it is evaluated when the run is created,
 * before any node exists), never a secret.
 */
export function runConcurrencyProblems(value: unknown): Problem[] {
  if (value === undefined) return [];
  const problems: Problem[] = [];
  if (isRecord(value) && typeof value.key === 'string') problems.push(...keyProblems(value.key, '/concurrency/key', RUN_KEY_ROOTS));
  return problems;
}

/**
 * Save-time rules of a node's `concurrency` and `rateLimit`: only activity nodes make attempts
 * to count (`isActivity` false for in-workflow, timer, signal, child and iteration types), `per`
 * is a duration between 100 ms and 24 h, keys are templates that parse and hold no secret.
 */
export function nodeLimitProblems(node: { type?: unknown; concurrency?: unknown; rateLimit?: unknown }, path: string, isActivity: boolean): Problem[] {
  const problems: Problem[] = [];
  for (const field of ['concurrency', 'rateLimit'] as const) {
    const value = node[field];
    if (value === undefined) continue;
    if (!isActivity) {
      problems.push({
        path: `${path}/${field}`,
        message: `"${field}" applies only to activity node types (http, postgres, custom types): a ${String(node.type)} node makes no attempts to count`,
      });
      continue;
    }
    if (!isRecord(value)) continue; // the schema reports the shape
    if (typeof value.key === 'string') problems.push(...keyProblems(value.key, `${path}/${field}/key`));
    if (field === 'rateLimit' && value.per !== undefined) {
      const ms = parseDuration(value.per);
      if (ms === undefined || ms < MIN_RATE_WINDOW_MS || ms > MAX_RATE_WINDOW_MS) {
        problems.push({ path: `${path}/rateLimit/per`, message: `${JSON.stringify(value.per)} must be a duration between 100ms and 24h` });
      }
    }
  }
  return problems;
}

function keyProblems(key: string, path: string, allowedRoots?: ReadonlySet<string>): Problem[] {
  const problems: Problem[] = [];
  for (const part of parseTemplate(key) ?? []) {
    if (!('expression' in part)) continue;
    const parseError = expressionProblem(part.expression);
    if (parseError) {
      problems.push({ path, message: parseError });
      continue;
    }
    if (mentionsSecrets(part.expression) || secretRefName(part.expression) !== undefined) {
      problems.push({ path, message: 'a limit key cannot read secrets: it is shown by GET /limits and kept in workflow history' });
      continue;
    }
    if (allowedRoots) {
      for (const root of rootReads(part.expression)) {
        if (!allowedRoots.has(root)) {
          problems.push({ path, message: `a run-level key may read only input (it is evaluated before the run starts); it reads "${root}"` });
        }
      }
    }
  }
  return problems;
}

/**
 * The names an expression reads at its root (`input` in `input.customerId`), plus `$` / `$$`
 * when it reads the whole context. Paths nested in a step (predicates, stages) read relative to
 * that step and are not roots.
 */
export function rootReads(expression: string): string[] {
  let ast: unknown;
  try {
    ast = parseExpression(expression);
  } catch {
    return [];
  }
  const found = new Set<string>();
  const visit = (item: unknown, depth: number): void => {
    if (item === null || typeof item !== 'object' || depth > 200) return;
    if (Array.isArray(item)) {
      for (const child of item) visit(child, depth + 1);
      return;
    }
    const node = item as { type?: string; value?: unknown; steps?: unknown[]; procedure?: unknown; arguments?: unknown[] };
    if (node.type === 'path' && Array.isArray(node.steps)) {
      const first = node.steps[0] as { type?: string; value?: unknown } | undefined;
      if (first?.type === 'name' && typeof first.value === 'string') found.add(first.value);
      else visit(first, depth + 1);
      return; // later steps read relative to the first
    }
    if (node.type === 'name' && typeof node.value === 'string') {
      found.add(node.value);
      return;
    }
    if (node.type === 'variable' && (node.value === '' || node.value === '$')) {
      found.add(node.value === '' ? '$' : '$$');
      return;
    }
    if (node.type === 'function' || node.type === 'partial') {
      visit(node.arguments, depth + 1); // the procedure is a $function name, not a read
      return;
    }
    for (const [key, child] of Object.entries(node)) if (key !== 'position') visit(child, depth + 1);
  };
  visit(ast, 0);
  return [...found];
}

/**
 * The limiter's identity for a tenant's key: tenants never share one (DESIGN.md §5). Run-level
 * keys are also per workflow (two workflows' `{{ input.customerId }}` keys are distinct).
 */
export function limiterWorkflowId(tenantId: string | undefined, kind: LimiterKind, key: string, workflowId?: string): string {
  // The key is arbitrary tenant text: encoded so no tenant can forge another's id with a separator.
  const scope = kind === 'run' ? `run/${encodeURIComponent(workflowId ?? '-')}` : kind;
  return `${LIMITER_ID_PREFIX}${encodeURIComponent(tenantId ?? '-')}/${scope}/${encodeURIComponent(key)}`;
}

/** Every limiter's workflow id starts so; the tenant's part follows (GET /limits lists by it). */
export const LIMITER_ID_PREFIX = 'trellis-limit/';

/** The id prefix of one tenant's limiters: a tenant's listing can never reach another's. */
export function tenantLimiterPrefix(tenantId: string): string {
  return `${LIMITER_ID_PREFIX}${encodeURIComponent(tenantId)}/`;
}

/**
 * An evaluated key, checked as the workflow sees it: any JSON value becomes text, and a key that
 * is empty or longer than the cap fails the node (`LimitKeyInvalid`) rather than sharing a slot.
 */
export function evaluatedKey(value: unknown): { key: string } | { problem: string } {
  const key = typeof value === 'string' ? value : value === null || value === undefined ? '' : JSON.stringify(value);
  if (key.length === 0) return { problem: 'the limit key evaluated to an empty value' };
  if (key.length > MAX_LIMIT_KEY_LENGTH) return { problem: `the limit key is ${key.length} characters; at most ${MAX_LIMIT_KEY_LENGTH} are allowed` };
  return { key };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
