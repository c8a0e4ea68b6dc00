import jsonata from 'jsonata-sync';
import { EXPRESSION_LIMITS, EvaluationMeter, LinearRegExp, isLimitBreach, type ExpressionLimitName } from './expression-limits';
import { secretRefName, type SecretTemplate } from './secrets';
import { parseTemplate, wholeTemplateExpression, type TemplatePart } from './templates';

/**
 * JSONata expressions and `{{ }}` templates. Pure: the same code runs in the API (validation)
 * and inside the workflow sandbox, where `$now()` reads Temporal's deterministic clock.
 *
 * The engine is JSONata 1.8, whose evaluator is synchronous (generators). JSONata 2's evaluator
 * creates several promises per step, and inside the Temporal workflow sandbox (which hooks every
 * promise to keep stack traces) a few thousand of them made evaluation quadratic and then
 * aborted the whole worker process ("async hook stack has become corrupted").
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
    /** Set when the evaluation was stopped by one of EXPRESSION_LIMITS. */
    readonly limit?: ExpressionLimitName,
  ) {
    super(message);
    this.name = limit ? 'ExpressionLimitExceeded' : 'ExpressionError';
  }
}

export { EXPRESSION_LIMITS };
/** Kept for callers of the earlier name: the per-evaluation step bound. */
export const MAX_EVALUATION_STEPS = EXPRESSION_LIMITS.steps;

// Regex literals run on RE2 everywhere (linear time), in the API's validation and in workflows.
// JSONata 1.8 keeps the engine in a module-global that every jsonata() call sets, so every
// compile in this process must go through here: one call without it would switch back to RegExp.
const compileWithLinearRegex = (expression: string): Compiled =>
  (jsonata as unknown as (e: string, o: object) => Compiled)(expression, { RegexEngine: LinearRegExp });

/** The parsed form of an expression (for static checks); throws on a parse error. */
export function parseExpression(expression: string): unknown {
  return compileWithLinearRegex(expression).ast();
}

type Compiled = ReturnType<typeof jsonata>;
interface JsonataFunction {
  implementation: (...args: unknown[]) => unknown;
  signature?: unknown;
  _jsonata_function: true;
}

/** The built-ins whose result can be far larger than their arguments, wrapped to check first. */
const builtins = (() => {
  const get = (name: string) => compileWithLinearRegex(`$${name}`).evaluate({}) as JsonataFunction;
  return { pad: get('pad'), replace: get('replace'), join: get('join') };
})();

function bounded(original: JsonataFunction, precheck: (args: unknown[]) => void): JsonataFunction {
  return {
    ...original,
    implementation(this: unknown, ...args: unknown[]) {
      precheck(args);
      return original.implementation.apply(this, args);
    },
  };
}

function stringLength(value: unknown): number {
  return typeof value === 'string' ? value.length : 0;
}

/** Most items one `$page()` call returns. */
export const PAGE_MAX_LIMIT = 10_000;

function pageError(message: string): { message: string } {
  return { message: `$page(list, offset, limit): ${message}` };
}

/**
 * `$page(list, offset, limit)`: items `[offset, offset + limit)` of a list, in one step however
 * long the list (a filter such as `list[[100..199]]` visits every item and would run into the
 * step limit on a 100,000-item map's results). A stored list is read by an activity first
 * (domain/stored-reads.ts), so this also pages a large map's `results`.
 */
const page: JsonataFunction = {
  _jsonata_function: true,
  implementation(list: unknown, offset: unknown, limit: unknown) {
    if (list === undefined) return undefined;
    const nonNegative = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
    if (!nonNegative(offset)) throw pageError(`offset must be an integer >= 0, got ${JSON.stringify(offset)}`);
    if (!nonNegative(limit) || (limit as number) > PAGE_MAX_LIMIT) {
      throw pageError(`limit must be an integer from 0 to ${PAGE_MAX_LIMIT}, got ${JSON.stringify(limit)}`);
    }
    if (list !== null && typeof list === 'object' && typeof (list as { $trellisRef?: unknown }).$trellisRef === 'string') {
      throw pageError('the list is stored by reference and was not loaded (read it as nodes.<id>.output...)');
    }
    const items = Array.isArray(list) ? list : [list];
    return items.slice(offset as number, (offset as number) + (limit as number));
  },
};

function boundedBuiltins(meter: EvaluationMeter): Record<string, JsonataFunction> {
  const max = EXPRESSION_LIMITS.stringLength;
  return {
    page,
    pad: bounded(builtins.pad, ([str, width]) => {
      const wanted = Math.max(stringLength(str), Math.abs(typeof width === 'number' ? width : 0));
      meter.allocate(wanted, 'stringLength', max, 'a string');
    }),
    replace: bounded(builtins.replace, ([str, , replacement, limit]) => {
      const length = stringLength(str);
      const matches = typeof limit === 'number' ? Math.min(limit, length + 1) : length + 1;
      // Each match may insert the replacement; a function replacement is bounded by its own steps.
      const worst = length + matches * stringLength(replacement);
      if (worst > max) meter.allocate(worst, 'stringLength', max, 'a replaced string');
    }),
    join: bounded(builtins.join, ([strings, separator]) => {
      const list = Array.isArray(strings) ? strings : [strings];
      let total = stringLength(separator) * Math.max(0, list.length - 1);
      for (const s of list) total += stringLength(s);
      meter.allocate(total, 'stringLength', max, 'a joined string');
    }),
  };
}

/** Compiles expressions once per distinct text; a run evaluates the same few many times. */
export class ExpressionCompiler {
  private readonly cache = new Map<string, Compiled>();
  /** Evaluation steps used by every evaluation of this compiler so far (a run's budget reads it). */
  stepsUsed = 0;

  compile(expression: string): Compiled {
    let compiled = this.cache.get(expression);
    if (!compiled) {
      try {
        compiled = compileWithLinearRegex(expression);
      } catch (err) {
        throw toExpressionError(err, expression);
      }
      this.cache.set(expression, compiled);
    }
    return compiled;
  }

  /** Synchronous inside (see the module comment); async so callers need not care. */
  async evaluate(expression: string, context: ExpressionContext): Promise<unknown> {
    return this.evaluateSync(expression, context);
  }

  evaluateSync(expression: string, context: ExpressionContext): unknown {
    const compiled = this.compile(expression);
    const meter = new EvaluationMeter();
    const bindings: Record<string, unknown> = {
      ...boundedBuiltins(meter),
      __evaluate_entry: () => meter.enter(),
      __evaluate_exit: (_expr: unknown, _input: unknown, _env: unknown, result: unknown) => meter.exit(result),
    };
    try {
      return toJson(compiled.evaluate(context, bindings));
    } catch (err) {
      throw toExpressionError(err, expression);
    } finally {
      this.stepsUsed += meter.steps;
    }
  }
}

function toExpressionError(err: unknown, expression: string): ExpressionError {
  const shown = expression.length > 200 ? `${expression.slice(0, 200)}…` : expression;
  if (isLimitBreach(err)) {
    return new ExpressionError(`expression limit "${err.limit}" exceeded: ${err.message} in expression "${shown}"`, expression, undefined, err.limit);
  }
  if (err instanceof RangeError) {
    // Invalid string or array length, or a native stack overflow: the expression built too much.
    return new ExpressionError(`expression limit exceeded: ${err.message} in expression "${shown}"`, expression, undefined, 'allocation');
  }
  const e = err as { message?: string; position?: number; code?: string };
  const where = typeof e.position === 'number' ? ` at position ${e.position}` : '';
  return new ExpressionError(`${e.message ?? String(err)}${where} in expression "${shown}"`, expression, e.position);
}

/** Returns the parse error of an expression, or undefined when it compiles. */
export function expressionProblem(expression: string): string | undefined {
  try {
    compileWithLinearRegex(expression);
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
// Templates (the grammar lives in templates.ts; re-exported for the callers that resolve them)

export { containsTemplate, escapePointer, parseTemplate, templateExpressions, wholeTemplateExpression, type TemplatePart } from './templates';

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
    // `{{ secrets.NAME }}` parts stay references: the activity resolves them (see domain/secrets.ts).
    if (parts.some((part) => 'expression' in part && secretRefName(part.expression) !== undefined)) {
      return resolveSecretTemplate(parts, context, compiler);
    }
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

/** The non-secret parts evaluated here, in the workflow; each secret part kept as its name. */
async function resolveSecretTemplate(parts: TemplatePart[], context: ExpressionContext, compiler: ExpressionCompiler): Promise<SecretTemplate> {
  const out: SecretTemplate['$secretTemplate'] = [];
  for (const part of parts) {
    const secret = 'expression' in part ? secretRefName(part.expression) : undefined;
    if (secret !== undefined) out.push({ secret });
    else out.push('text' in part ? part.text : stringify(await compiler.evaluate(part.expression, context)));
  }
  return { $secretTemplate: out };
}

function stringify(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}
