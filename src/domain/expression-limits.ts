import { RE2JS } from 're2js';

/**
 * What one expression evaluation may cost. Expressions come from tenants and run inside the
 * workflow, where a runaway evaluation would stall (or, with deep native stacks, crash) a worker
 * that serves every tenant. Every bound is counted, not timed, so a replay reaches the same
 * verdict as the original run.
 */
export const EXPRESSION_LIMITS = {
  /** Nested evaluation depth (non-tail recursion); far below where the native stack would overflow. */
  depth: 200,
  /** Evaluation steps (one per evaluated sub-expression); about 0.4 s in the workflow sandbox on a slow core. */
  steps: 50_000,
  /** Length of any one string an expression builds, in UTF-16 units. */
  stringLength: 1_000_000,
  /** Length of any one array an expression builds. */
  arrayLength: 100_000,
  /** Sum of the lengths of every string and array built during one evaluation. */
  allocation: 20_000_000,
} as const;

export type ExpressionLimitName = keyof typeof EXPRESSION_LIMITS;

/** Thrown (as JSONata's error objects are) when an evaluation passes one of the limits. */
export interface LimitBreach {
  code: 'TRELLIS_LIMIT';
  limit: ExpressionLimitName;
  message: string;
}

export function limitBreach(limit: ExpressionLimitName, message: string): LimitBreach {
  return { code: 'TRELLIS_LIMIT', limit, message };
}

export function isLimitBreach(err: unknown): err is LimitBreach {
  return err !== null && typeof err === 'object' && (err as LimitBreach).code === 'TRELLIS_LIMIT';
}

/** Per-evaluation counters, reset for every evaluation. */
export class EvaluationMeter {
  depth = 0;
  steps = 0;
  allocated = 0;

  enter(): void {
    this.depth++;
    this.steps++;
    if (this.depth > EXPRESSION_LIMITS.depth) {
      throw limitBreach('depth', `nesting deeper than ${EXPRESSION_LIMITS.depth} levels (runaway recursion?)`);
    }
    if (this.steps > EXPRESSION_LIMITS.steps) {
      throw limitBreach('steps', `more than ${EXPRESSION_LIMITS.steps} evaluation steps (endless loop or recursion?)`);
    }
  }

  exit(result: unknown): void {
    this.depth--;
    if (typeof result === 'string') this.allocate(result.length, 'stringLength', EXPRESSION_LIMITS.stringLength, 'a string');
    else if (Array.isArray(result)) this.allocate(result.length, 'arrayLength', EXPRESSION_LIMITS.arrayLength, 'an array');
  }

  /** Checked before a built-in function allocates, so an oversized result is never built. */
  allocate(length: number, limit: 'stringLength' | 'arrayLength', max: number, what: string): void {
    if (length > max) {
      const unit = limit === 'stringLength' ? 'characters' : 'elements';
      throw limitBreach(limit, `${what} of ${length} ${unit}; at most ${max} are allowed`);
    }
    this.allocated += length;
    if (this.allocated > EXPRESSION_LIMITS.allocation) {
      throw limitBreach('allocation', `built more than ${EXPRESSION_LIMITS.allocation} characters and array elements in all`);
    }
  }
}

/**
 * JSONata's regular expressions, on RE2 (linear time: no catastrophic backtracking). Shaped like
 * the subset of RegExp that JSONata uses: `lastIndex` and `exec`. Backreferences and lookaround
 * do not exist in RE2; such a pattern fails to compile with a clear error.
 */
export class LinearRegExp {
  lastIndex = 0;
  private readonly re: RE2JS;
  readonly source: string;
  readonly flags: string;

  constructor(pattern: RegExp | string, flags?: string) {
    this.source = typeof pattern === 'string' ? pattern : pattern.source;
    this.flags = flags ?? (typeof pattern === 'string' ? '' : pattern.flags);
    let reFlags = 0;
    if (this.flags.includes('i')) reFlags |= RE2JS.CASE_INSENSITIVE;
    if (this.flags.includes('m')) reFlags |= RE2JS.MULTILINE;
    try {
      this.re = RE2JS.compile(this.source, reFlags);
    } catch (err) {
      throw {
        code: 'TRELLIS_REGEX',
        message: `regular expression /${this.source}/ is not supported: ${(err as Error).message} (Trellis uses linear-time RE2 syntax: no backreferences or lookaround)`,
      };
    }
  }

  exec(input: string): (string[] & { index: number; input: string }) | null {
    const matcher = this.re.matcher(input);
    if (this.lastIndex > input.length || !matcher.find(this.lastIndex)) {
      this.lastIndex = 0;
      return null;
    }
    const groups: string[] = [];
    for (let g = 0; g <= matcher.groupCount(); g++) groups.push(matcher.group(g) ?? (undefined as unknown as string));
    const start = matcher.start();
    const end = matcher.end();
    this.lastIndex = end;
    return Object.assign(groups, { index: start, input });
  }

  test(input: string): boolean {
    return this.exec(input) !== null;
  }
}
