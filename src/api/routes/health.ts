import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../deps';
import { ApiError } from '../errors';
import { PUBLIC_ROUTE, errorResponses } from '../schemas';
import { withTimeout } from '../../util/timeout';

/** A readiness probe must answer before the orchestrator's own probe timeout, even when a dependency hangs. */
const CHECK_TIMEOUT_MS = 2_000;

type CheckName = 'postgres' | 'temporal';

/** Liveness and readiness, outside the API key scope so orchestrators can probe them. */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'getLiveness',
        tags: ['health'],
        summary: 'Liveness: the process serves requests',
        ...PUBLIC_ROUTE,
        response: { 200: Type.Object({ status: Type.Literal('ok') }), ...errorResponses(429) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadiness',
        tags: ['health'],
        summary: 'Readiness: Postgres and Temporal answer',
        ...PUBLIC_ROUTE,
        response: {
          200: Type.Object({
            status: Type.Literal('ready'),
            checks: Type.Object({ postgres: Type.Literal('ok'), temporal: Type.Literal('ok') }),
          }),
          ...errorResponses(429, 503),
        },
      },
    },
    async () => {
      const checks: Record<CheckName, () => Promise<unknown>> = {
        postgres: () => deps.db.$queryRaw`SELECT 1`,
        temporal: () => deps.temporal.ping(),
      };
      const results = await Promise.all(
        (Object.keys(checks) as CheckName[]).map(async (name) => {
          try {
            await withTimeout(checks[name](), CHECK_TIMEOUT_MS, `no answer within ${CHECK_TIMEOUT_MS} ms`);
            return { check: name, ok: true as const };
          } catch (err) {
            return { check: name, ok: false as const, message: err instanceof Error ? err.message : String(err) };
          }
        }),
      );
      const failing = results.filter((r) => !r.ok);
      if (failing.length > 0) {
        throw new ApiError(
          503,
          'NOT_READY',
          `not ready: ${failing.map((f) => f.check).join(', ')} unavailable`,
          failing.map((f) => ({ check: f.check, message: f.message })),
        );
      }
      return { status: 'ready' as const, checks: { postgres: 'ok' as const, temporal: 'ok' as const } };
    },
  );
};
