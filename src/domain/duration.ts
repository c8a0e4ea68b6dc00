/**
 * Durations in definitions are strings ("500ms", "10s", "5m", "1h", "1d", or combinations such
 * as "1h30m") or a number of milliseconds.
 */
export type Duration = string | number;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/y;

/** Parses a duration into milliseconds; returns undefined when it does not parse. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return value >= 0 ? finite(Math.round(value)) : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) return finite(Number(text));
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex;
    const match = PART.exec(text);
    if (!match || match.index !== start) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
    while (text[PART.lastIndex] === ' ') PART.lastIndex++;
  }
  return finite(Math.round(total));
}

/**
 * The longest duration anything in a definition may take (a delay, a timeout, a retry interval):
 * one year. Beyond it Temporal's timers overflow and a run would fail its workflow task forever.
 */
export const MAX_DURATION_MS = 366 * 86_400_000;

/** A string of 400 digits parses to Infinity, which is no duration; nor is anything over the maximum. */
function finite(ms: number): number | undefined {
  return Number.isFinite(ms) && ms <= MAX_DURATION_MS ? ms : undefined;
}

/** Like parseDuration but throws; for values that validation already accepted. */
export function durationMs(value: Duration): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new Error(`invalid duration: ${JSON.stringify(value)}`);
  return ms;
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Epoch milliseconds of an ISO 8601 date-time with a zone ("2030-01-01T09:00:00Z"); else undefined. */
export function parseIsoDateTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || !ISO_DATE_TIME.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
