import { Type, type TSchema } from '@sinclair/typebox';

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

/** Response schemas for the error statuses a route can answer with. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorSchema]));
}

/**
 * Operation-level `security: []` marks a route that needs no API key; OpenAPI shows it and the
 * security test treats every operation without it as one that must answer 401.
 */
export const PUBLIC_ROUTE = { security: [] as Array<Record<string, string[]>> };
