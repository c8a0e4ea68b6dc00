/**
 * Cron expressions and time zones for schedules, checked before anything reaches Temporal so a
 * bad one is a 400 with a useful message rather than a gRPC error. Pure: no I/O.
 *
 * Accepted: standard 5-field cron (minute hour day-of-month month day-of-week) with `*`, values,
 * ranges `a-b`, steps `*\/n` and `a-b/n`, lists `a,b-c`, month names JAN–DEC and day names
 * SUN–SAT (any case; day 7 is Sunday too), plus the macros below. Deliberately refused, although
 * some cron dialects know them: seconds/years fields, `?`, `L`, `W`, `#`, `a/n` without a range,
 * and `@every` — so every expression we accept means the same thing to any cron reader, and
 * Temporal's parser (which accepts a superset) never sees something we did not mean.
 *
 * One semantic difference to know: when both day-of-month and day-of-week are restricted,
 * Temporal requires both to match ("0 0 13 * FRI" is Friday the 13th), whereas Vixie cron fires
 * when either does. The expression is valid either way; Temporal's reading is the one that runs.
 */

export const CRON_MACROS = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'] as const;

interface Field {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** Index of names[0]. */
  namesFrom?: number;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] as const;
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;

const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  // 7 is Sunday as in Vixie cron and Temporal; both 0 and 7 are accepted.
  { name: 'day-of-week', min: 0, max: 7, names: DAYS, namesFrom: 0 },
];

const MAX_LENGTH = 200;

/** Undefined when `expression` is a cron expression we accept; otherwise what is wrong with it. */
export function cronError(expression: string): string | undefined {
  const text = expression.trim();
  if (text === '') return 'must not be empty';
  if (text.length > MAX_LENGTH) return `must be at most ${MAX_LENGTH} characters`;
  if (text.startsWith('@')) {
    // Temporal matches macros case-sensitively, so "@DAILY" is refused rather than normalized.
    return (CRON_MACROS as readonly string[]).includes(text)
      ? undefined
      : `unknown macro ${text}; use one of ${CRON_MACROS.join(', ')}`;
  }
  const parts = text.split(/\s+/);
  if (parts.length !== FIELDS.length) {
    return `must have 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`;
  }
  for (const [i, part] of parts.entries()) {
    const field = FIELDS[i] as Field;
    const problem = fieldError(part, field);
    if (problem) return `${field.name} field "${part}": ${problem}`;
  }
  return undefined;
}

export function isValidCron(expression: string): boolean {
  return cronError(expression) === undefined;
}

function fieldError(part: string, field: Field): string | undefined {
  for (const item of part.split(',')) {
    if (item === '') return 'empty list item';
    const problem = itemError(item, field);
    if (problem) return problem;
  }
  return undefined;
}

/** One list item: `*`, `*\/n`, `a`, `a-b` or `a-b/n`. */
function itemError(item: string, field: Field): string | undefined {
  const slash = item.split('/');
  if (slash.length > 2) return `"${item}" has more than one step`;
  const [base = '', stepText] = slash;
  if (stepText !== undefined) {
    const step = integer(stepText);
    if (step === undefined || step < 1 || step > field.max) return `step "${stepText}" must be an integer from 1 to ${field.max}`;
    if (base !== '*' && !base.includes('-')) return `a step needs "*" or a range before it, as in */${stepText}`;
  }
  if (base === '*') return undefined;
  const bounds = base.split('-');
  if (bounds.length > 2) return `"${base}" is not a value or a range`;
  const values: number[] = [];
  for (const bound of bounds) {
    const value = parseValue(bound, field);
    if (value === undefined) return `"${bound}" is not ${describeAllowed(field)}`;
    values.push(value);
  }
  const [start, end = start] = values as [number, number?];
  if (start > end) return `range ${base} runs backwards`;
  return undefined;
}

function parseValue(text: string, field: Field): number | undefined {
  const n = integer(text);
  if (n !== undefined) return n >= field.min && n <= field.max ? n : undefined;
  const index = field.names?.indexOf(text.toUpperCase() as never) ?? -1;
  return index >= 0 ? index + (field.namesFrom ?? 0) : undefined;
}

function integer(text: string): number | undefined {
  return /^\d{1,3}$/.test(text) ? Number(text) : undefined;
}

function describeAllowed(field: Field): string {
  const names = field.names ? ` or ${field.names[0]}–${field.names[field.names.length - 1]}` : '';
  return `a value from ${field.min} to ${field.max}${names}`;
}

// -- time zones --------------------------------------------------------------------------------

let canonicalZones: Set<string> | undefined;
let zonesByLowerCase: Map<string, string> | undefined;

function zones(): { canonical: Set<string>; byLowerCase: Map<string, string> } {
  canonicalZones ??= new Set(Intl.supportedValuesOf('timeZone'));
  zonesByLowerCase ??= new Map([...canonicalZones, 'UTC'].map((z) => [z.toLowerCase(), z]));
  return { canonical: canonicalZones, byLowerCase: zonesByLowerCase };
}

/**
 * Whether `timeZone` is an IANA zone name Temporal can load. ICU (behind Intl) is more lenient
 * than Temporal, whose Go tzdata lookup is case-sensitive and knows no offsets, so besides ICU
 * accepting the name we require the exact spelling: a canonical name as listed by
 * `Intl.supportedValuesOf`, or another ICU-known name (aliases such as `UTC`, `US/Eastern`,
 * `Asia/Kolkata`, which that list omits) spelled with each segment capitalized and not a
 * mis-cased canonical name.
 */
export function isValidTimezone(timeZone: string): boolean {
  if (timeZone === '' || timeZone.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    return false;
  }
  const { canonical, byLowerCase } = zones();
  if (canonical.has(timeZone) || timeZone === 'UTC') return true;
  const caseVariantOf = byLowerCase.get(timeZone.toLowerCase());
  if (caseVariantOf !== undefined) return caseVariantOf === timeZone;
  return timeZone.split('/').every((segment) => /^[A-Z][A-Za-z0-9_+-]*$/.test(segment));
}

export function timezoneError(timeZone: string): string | undefined {
  return isValidTimezone(timeZone) ? undefined : `unknown time zone ${JSON.stringify(timeZone)}; use an IANA name such as UTC or Europe/Paris`;
}
