import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppDeps } from '../deps';
import { StringEnum, errorResponses } from '../schemas';
import { listLimitsInUse } from '../../services/limits';

const LimitInUseSchema = Type.Object({
  scope: StringEnum(['run', 'node']),
  kind: StringEnum(['run', 'concurrency', 'rateLimit']),
  workflowId: Type.Optional(Type.String({ description: 'scope run: the workflow whose runs share the key' })),
  key: Type.String(),
  limit: Type.Integer({ description: 'The limit the latest request for the key asked for' }),
  inFlight: Type.Integer({ description: 'Runs past QUEUED, attempts in flight, or (rateLimit) starts in the current window' }),
  waiting: Type.Integer({ description: 'Runs QUEUED or node attempts WAITING for the key' }),
});
const LimitsResponse = Type.Object({ items: Type.Array(LimitInUseSchema) });

/** GET /limits (DESIGN.md §5): the caller's tenant's concurrency and rate-limit keys in use now. */
export const limitRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get(
    '/limits',
    {
      schema: {
        operationId: 'listLimits',
        tags: ['limits'],
        summary: "The tenant's concurrency and rate-limit keys in use, with in-flight and waiting counts",
        response: { 200: LimitsResponse, ...errorResponses(401, 429, 503) },
      },
    },
    async (request) => ({ items: await listLimitsInUse(deps.temporal, request.tenantId) }),
  );
};
