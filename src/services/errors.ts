/**
 * What a service refuses, in the service's own terms: the API layer (api/errors.ts) gives each
 * kind its HTTP status, so services never speak HTTP. `code` is the machine-readable reason
 * clients see in `{ error: { code, message, details? } }`.
 */
export type ServiceErrorKind = 'invalid' | 'not_found' | 'conflict' | 'limit' | 'unavailable';

export class ServiceError extends Error {
  constructor(
    readonly kind: ServiceErrorKind,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

/** The input breaks a rule (400). */
export const invalid = (message: string, details?: unknown, code = 'VALIDATION_ERROR'): ServiceError =>
  new ServiceError('invalid', code, message, details);

/** Unknown, or another tenant's (404). */
export const notFound = (what: string): ServiceError => new ServiceError('not_found', 'NOT_FOUND', `${what} not found`);

/** The resource's state forbids it: a finished run, an archived workflow, a reused key (409). */
export const conflict = (message: string, details?: unknown): ServiceError => new ServiceError('conflict', 'CONFLICT', message, details);

/** A tenant limit is reached; the same request may succeed later (429). */
export const limitReached = (code: string, message: string): ServiceError => new ServiceError('limit', code, message);

/** A tenant quota (DESIGN §8) is reached; nothing was stored (429 QUOTA_EXCEEDED, details `{ quota, limit, used }`). */
export const quotaExceeded = (quota: string, limit: number, used: number): ServiceError =>
  new ServiceError('limit', 'QUOTA_EXCEEDED', `quota ${quota} exceeded: ${used} in use, the limit is ${limit}`, { quota, limit, used });

/** A dependency is down; the same request may succeed later (503). */
export const unavailable = (code: string, message: string): ServiceError => new ServiceError('unavailable', code, message);

/**
 * Temporal did not answer: `what` says what did not happen; `cause` (when given) says why, and
 * `hint` how to retry safely. An error that is already a ServiceError passes through unchanged.
 */
export function temporalUnavailable(what: string, options: { cause?: unknown; hint?: string } = {}): ServiceError {
  const { cause, hint } = options;
  if (cause instanceof ServiceError) return cause;
  const why = cause === undefined ? '' : ` (${cause instanceof Error ? cause.message : String(cause)})`;
  return unavailable('TEMPORAL_UNAVAILABLE', `Temporal is unavailable: ${what}${why}; retry later${hint ? ` ${hint}` : ''}`);
}
