import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, errorHandler } from '../../src/api/errors';
import { conflict, invalid, limitReached, notFound, temporalUnavailable, unavailable, ServiceError } from '../../src/services/errors';
import { RETRY_HINT } from '../../src/services/executions';

/** Each route throws one error; the real error handler renders it. */
const THROWN: Record<string, () => Error> = {
  invalid: () => invalid('invalid schedule: /body/cron is not a cron expression', [{ path: '/body/cron', message: 'is not a cron expression' }]),
  notFound: () => notFound('workflow wf_1'),
  conflict: () => conflict('workflow wf_1 is archived', { workflowId: 'wf_1' }),
  limit: () => limitReached('TOO_MANY_RUNS', '3 runs of this tenant are in progress; the limit is 3 (TRELLIS_MAX_RUNNING_PER_TENANT)'),
  unavailable: () => unavailable('SOMETHING_UNAVAILABLE', 'it is off'),
  startFailed: () => temporalUnavailable('the run could not be started', { hint: RETRY_HINT }),
  scheduleFailed: () => temporalUnavailable('could not create the schedule', { cause: new Error('14 UNAVAILABLE: connection refused') }),
  passThrough: () => temporalUnavailable('could not trigger the schedule', { cause: notFound('schedule sch_1') }),
  http: () => new ApiError(401, 'UNAUTHORIZED', 'invalid API key'),
};

let app: FastifyInstance;
beforeAll(async () => {
  app = Fastify();
  app.setErrorHandler(errorHandler);
  for (const [name, error] of Object.entries(THROWN)) {
    app.get(`/${name}`, async () => {
      throw error();
    });
  }
  await app.ready();
});
afterAll(async () => {
  await app.close();
});

async function answer(name: string) {
  const res = await app.inject({ method: 'GET', url: `/${name}` });
  return { status: res.statusCode, body: res.json() };
}

describe('service errors as HTTP answers', () => {
  it('maps each kind to its status with the DESIGN.md §3 error body', async () => {
    expect(await answer('invalid')).toEqual({
      status: 400,
      body: {
        error: {
          code: 'VALIDATION_ERROR',
          message: 'invalid schedule: /body/cron is not a cron expression',
          details: [{ path: '/body/cron', message: 'is not a cron expression' }],
        },
      },
    });
    expect(await answer('notFound')).toEqual({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'workflow wf_1 not found' } } });
    expect(await answer('conflict')).toEqual({
      status: 409,
      body: { error: { code: 'CONFLICT', message: 'workflow wf_1 is archived', details: { workflowId: 'wf_1' } } },
    });
    expect((await answer('limit')).status).toBe(429);
    expect((await answer('limit')).body.error.code).toBe('TOO_MANY_RUNS');
    expect(await answer('unavailable')).toEqual({ status: 503, body: { error: { code: 'SOMETHING_UNAVAILABLE', message: 'it is off' } } });
    expect(await answer('http')).toEqual({ status: 401, body: { error: { code: 'UNAUTHORIZED', message: 'invalid API key' } } });
  });

  it('words "Temporal unavailable" as the run and schedule services did before they shared one helper', async () => {
    expect(await answer('startFailed')).toEqual({
      status: 503,
      body: {
        error: {
          code: 'TEMPORAL_UNAVAILABLE',
          message: 'Temporal is unavailable: the run could not be started; retry later (with the same idempotency key, if any)',
        },
      },
    });
    expect(await answer('scheduleFailed')).toEqual({
      status: 503,
      body: {
        error: {
          code: 'TEMPORAL_UNAVAILABLE',
          message: 'Temporal is unavailable: could not create the schedule (14 UNAVAILABLE: connection refused); retry later',
        },
      },
    });
  });

  it('passes a service error through instead of calling it an outage', async () => {
    expect(THROWN.passThrough!()).toBeInstanceOf(ServiceError);
    expect(await answer('passThrough')).toEqual({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'schedule sch_1 not found' } } });
  });
});
