import jsonata from 'jsonata';

/**
 * JSONata expressions and `{{ }}` templates. Pure: the same code runs in the API (validation)
 * and inside the workflow sandbox, where `$now()` reads Temporal's deterministic clock.
 */

/** Evaluation context of every expression in a run. */
export interface ExpressionContext {
  input: unknown;
  nodes: Record<string, { status: string; output?: unknown; error?: unknown }>;
  execution: { id: string; workflowId: string; version: number; startedAt: string };
}

export class ExpressionError extends Error {
  constructor(
    message: string,
    readonly expression: string,
    readonly position?: number,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

/** Guards against runaway recursion or sequences inside one run. */
const LIMITS = { stack: 500, sequence: 1_000_000 };
/**
 * Tail recursion never deepens the stack, and the workflow clock stands still while an
 * expression runs, so neither `stack` nor `timeout` stops `($f := function(){ $f() }; $f())`.
 * Counting evaluation steps does.
 */
export const MAX_EVALUATION_STEPS = 1_000_000;
const EVALUATE_ENTRY = Symbol.for('jsonata.__evaluate_entry');

function countStep(_expr: unknown, _input: unknown, environment: { base: { trellisSteps?: number } }): void {
  const base = environment.base;
  base.trellisSteps = (base.trellisSteps ?? 0) + 1;
  if (base.trellisSteps > MAX_EVALUATION_STEPS) {
    throw { code: 'T1001', message: `evaluation exceeded ${MAX_EVALUATION_STEPS} steps (endless recursion?)` };
  }
}

type Compiled = ReturnType<typeof jsonata>;

/** Compiles expressions once per distinct text; a run evaluates the same few many times. */
export class ExpressionCompiler {
  private readonly cache = new Map<string, Compiled>();

  compile(expression: string): Compiled {
    let compiled = this.cache.get(expression);
    if (!compiled) {
      try {
        compiled = jsonata(expression, LIMITS);
        (compiled.assign as unknown as (name: symbol, value: unknown) => void)(EVALUATE_ENTRY, countStep);
      } catch (err) {
        throw toExpressionError(err, expression);
      }
      this.cache.set(expression, compiled);
    }
    return compiled;
  }

  async evaluate(expression: string, context: ExpressionContext): Promise<unknown> {
    const compiled = this.compile(expression);
    try {
      return toJson(await compiled.evaluate(context));
    } catch (err) {
      throw toExpressionError(err, expression);
    }
  }
}

function toExpressionError(err: unknown, expression: string): ExpressionError {
  const e = err as { message?: string; position?: number; code?: string };
  const where = typeof e.position === 'number' ? ` at position ${e.position}` : '';
  return new ExpressionError(`${e.message ?? String(err)}${where} in expression "${expression}"`, expression, e.position);
}

/** Returns the parse error of an expression, or undefined when it compiles. */
export function expressionProblem(expression: string): string | undefined {
  try {
    jsonata(expression);
    return undefined;
  } catch (err) {
    return toExpressionError(err, expression).message;
  }
}

/** JSONata sequences carry extra properties and may hold undefined; runs store plain JSON. */
function toJson(value: unknown): unknown {
  if (value === undefined) return null;
  if (isFunction(value)) throw { message: 'the expression returns a function, not a JSON value' };
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (isFunction(v) ? undefined : v))) as unknown;
}

/** JSONata lambdas are plain objects that reference their (circular) environment. */
function isFunction(value: unknown): boolean {
  if (typeof value === 'function') return true;
  if (value === null || typeof value !== 'object') return false;
  const v = value as { _jsonata_lambda?: unknown; _jsonata_function?: unknown };
  return v._jsonata_lambda === true || v._jsonata_function === true;
}

// ---------------------------------------------------------------------------------------------
// Templates

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

export function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Resolves every template in a config value against the context. `skipKeys` names top-level
 * fields that hold raw expressions and must reach the node type untouched.
 */
export async function resolveTemplates(
  value: unknown,
  context: ExpressionContext,
  compiler: ExpressionCompiler,
  skipKeys: readonly string[] = [],
): Promise<unknown> {
  if (typeof value === 'string') {
    const parts = parseTemplate(value);
    if (!parts) return value;
    const whole = wholeTemplateExpression(value);
    if (whole !== undefined) return compiler.evaluate(whole, context);
    let text = '';
    for (const part of parts) {
      text += 'text' in part ? part.text : stringify(await compiler.evaluate(part.expression, context));
    }
    return text;
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) out.push(await resolveTemplates(item, context, compiler));
    return out;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      out[key] = skipKeys.includes(key) ? child : await resolveTemplates(child, context, compiler);
    }
    return out;
  }
  return value;
}

function stringify(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}
