import { Type, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { invalid } from '../services/errors';
import { parseCursor, type Cursor } from '../util/pagination';

/**
 * The building blocks every route schema shares, declared once so the OpenAPI document says
 * the same thing the same way everywhere (and generated clients get one type per concept).
 */

/** `T` or `null`: a field that is always present but may be empty. */
export const Nullable = <T extends TSchema>(schema: T, options: { description?: string } = {}) => Type.Union([schema, Type.Null()], options);

/**
 * A timestamp: an ISO 8601 string on the wire. Handlers may hand over the Date objects Prisma
 * and Temporal return (the serializer writes them as ISO strings) or strings already.
 */
export const DateTime = Type.Unsafe<Date | string>(Type.String({ format: 'date-time' }));

/**
 * A string enum as one `enum` keyword rather than a union of literals, so a bad value yields one
 * validation error ("must be equal to one of the allowed values") and OpenAPI shows a plain enum.
 */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** Options of a cursor-paginated list; the defaults are those of most lists. */
export interface PageQueryOptions {
  maxPageSize: number;
  defaultLimit?: number;
  /** Longest cursor this list hands out (cursor formats differ per list). */
  cursorMaxLength?: number;
}

/** The `limit` and `cursor` query parameters of a cursor-paginated list (DESIGN.md §3), to spread into its querystring. */
export function pageQuery({ maxPageSize, defaultLimit = 20, cursorMaxLength = 500 }: PageQueryOptions) {
  return {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: maxPageSize, default: Math.min(defaultLimit, maxPageSize) })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: cursorMaxLength, description: 'nextCursor of the previous page' })),
  };
}

/** The `cursor` query parameter as a Cursor; a 400 when it is not one this API returned. */
export function decodeCursor(value: string | undefined): Cursor | undefined {
  if (value === undefined) return undefined;
  const cursor = parseCursor(value);
  if (!cursor) throw invalid('invalid cursor', [{ path: '/querystring/cursor', message: 'is not a cursor returned by this API' }]);
  return cursor;
}

/** One page of a list: `{ items, nextCursor }`, nextCursor null on the last page. */
export function Page<T extends TSchema>(item: T) {
  return {
    items: Type.Array(item),
    nextCursor: Nullable(Type.String(), { description: 'Pass as `cursor` for the next page; null on the last page' }),
  };
}

/** DESIGN.md §3's error body, as a response schema (so OpenAPI documents it). */
export const ErrorSchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { description: 'error' },
);

/** Why each error status can happen, shown in the OpenAPI document. */
const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'invalid request (validation, malformed JSON)',
  401: 'missing or invalid API key',
  403: 'forbidden',
  404: 'not found (also for resources of another tenant)',
  409: 'state conflict',
  413: 'request body too large',
  415: 'unsupported media type',
  429: 'rate limit (RATE_LIMITED), runs in progress (TOO_MANY_RUNS) or a tenant quota (QUOTA_EXCEEDED; `details: { quota, limit, used }`) reached',
  503: 'a dependency (Temporal, Postgres, a feature switched off) is unavailable; retry later',
};

/** Response schemas for the error statuses a route can answer with. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(
    statuses.map((status) => [status, Type.Object(ErrorSchema.properties, { description: ERROR_DESCRIPTIONS[status] ?? 'error' })]),
  );
}

/**
 * Operation-level `security: []` marks a route that needs no API key; OpenAPI shows it and the
 * security test treats every operation without it as one that must answer 401.
 */
export const PUBLIC_ROUTE = { security: [] as Array<Record<string, string[]>> };
