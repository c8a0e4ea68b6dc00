import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { invalid, ServiceError, type ServiceErrorKind } from '../services/errors';

export { conflict, notFound } from '../services/errors';

/**
 * A failure only HTTP has (authentication, rate limits, a route's feature switched off); the
 * services' own refusals are ServiceErrors. Both render as DESIGN.md's `{ error: { code, message, details? } }`.
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Invalid request input, found by a route rather than by its schema (400 VALIDATION_ERROR). */
export const badRequest = (message: string, details?: unknown): ServiceError => invalid(message, details);

/** The HTTP status of each kind of service refusal. */
export const SERVICE_ERROR_STATUS: Record<ServiceErrorKind, number> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  limit: 429,
  unavailable: 503,
};

export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** Fastify's own error codes for client mistakes, mapped to status and code. */
const CLIENT_ERRORS: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'MALFORMED_JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'MALFORMED_JSON'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'BODY_TOO_LARGE'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'BAD_REQUEST'],
  FST_ERR_VALIDATION: [400, 'VALIDATION_ERROR'],
};

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof ApiError) {
    return reply.status(error.statusCode).send(body(error.code, error.message, error.details));
  }
  if (error instanceof ServiceError) {
    return reply.status(SERVICE_ERROR_STATUS[error.kind]).send(body(error.code, error.message, error.details));
  }
  if (error.validation) {
    const details = error.validation.map((v) => ({
      path: `${error.validationContext ? `/${error.validationContext}` : ''}${v.instancePath || ''}${
        v.keyword === 'required' ? `/${(v.params as { missingProperty?: string }).missingProperty}` : ''
      }${v.keyword === 'additionalProperties' ? `/${(v.params as { additionalProperty?: string }).additionalProperty}` : ''}`,
      message: v.keyword === 'additionalProperties' ? 'unknown property' : (v.message ?? 'is invalid'),
    }));
    return reply.status(400).send(body('VALIDATION_ERROR', `invalid request: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`, details));
  }
  const mapped = error.code ? CLIENT_ERRORS[error.code] : undefined;
  if (mapped) return reply.status(mapped[0]).send(body(mapped[1], error.message));
  if (error.statusCode === 429) return reply.status(429).send(body('RATE_LIMITED', error.message));
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return reply.status(error.statusCode).send(body('BAD_REQUEST', error.message));
  }
  request.log.error({ err: error }, 'unhandled error');
  return reply.status(500).send(body('INTERNAL', 'internal error'));
}

function body(code: string, message: string, details?: unknown): ErrorBody {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}
