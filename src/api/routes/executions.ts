import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps, ApiLimits } from '../deps';
import { badRequest } from '../errors';
import { decodeCursor } from '../schemas';
import { startExecution } from '../../services/executions';
import { startCounts } from '../metrics';
import { executionDetail, listExecutionSummaries } from '../../services/execution-view';
import { executionActionRoutes } from './execution-actions';
import { executionRerunRoutes } from './execution-rerun';
import {
  DetailQuery,
  ExecutionDetailSchema,
  ExecutionIdParams,
  ExecutionListSchema,
  ExecutionSummarySchema,
  IdempotencyHeaders,
  StartBody,
  errorResponses,
  listQuery,
} from './execution-schemas';

const TAGS = ['executions'];

/** Runs: start, list, inspect; the state-changing actions live in ./execution-actions. */
export const executionRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps; limits: ApiLimits }> = async (app, { deps, limits }) => {
  const counts = startCounts(app);
  app.post(
    '/executions',
    {
      schema: {
        operationId: 'startExecution',
        tags: TAGS,
        summary: 'Start a run',
        description:
          'Starts a run of a stored workflow. Repeating a request with the same idempotency key answers with the same run. ' +
          'With `mocks` it is a test run: the mocked nodes end as given without running (400 naming every mock that fits no top-level node).',
        body: StartBody,
        headers: IdempotencyHeaders,
        response: { 202: ExecutionSummarySchema, ...errorResponses(400, 401, 404, 409, 413, 429, 503) },
      },
    },
    async (request, reply) => {
      const { workflowId, version, input, idempotencyKey: bodyKey, runTimeout, mocks } = request.body;
      const headerKey = request.headers['idempotency-key'];
      if (bodyKey !== undefined && headerKey !== undefined && bodyKey !== headerKey) {
        throw badRequest('the Idempotency-Key header and body.idempotencyKey differ', [
          { path: '/body/idempotencyKey', message: 'must equal the Idempotency-Key header when both are given' },
        ]);
      }
      const { execution, created } = await counts.droppedFrom('MANUAL', startExecution(deps, {
        tenantId: request.tenantId,
        workflowId,
        version,
        input,
        idempotencyKey: bodyKey ?? headerKey,
        trigger: 'MANUAL',
        ...(runTimeout === undefined ? {} : { runTimeout }),
        ...(mocks === undefined ? {} : { mocks }),
      }));
      if (created) counts.created('MANUAL');
      else reply.header('idempotent-replayed', 'true');
      return reply.status(202).send(execution);
    },
  );

  app.get(
    '/executions',
    {
      schema: {
        operationId: 'listExecutions',
        tags: TAGS,
        summary: 'List runs, newest first',
        description: 'Test runs (started with mocks) are listed only with ?test=true, and then only they are.',
        querystring: listQuery(limits.maxPageSize),
        response: { 200: ExecutionListSchema, ...errorResponses(400, 401, 429) },
      },
    },
    async (request) => {
      const { workflowId, status, waiting, test, cursor } = request.query;
      const limit = request.query.limit ?? Math.min(20, limits.maxPageSize);
      return listExecutionSummaries(deps.db, {
        tenantId: request.tenantId,
        ...(workflowId === undefined ? {} : { workflowId }),
        ...(status === undefined ? {} : { status }),
        waitingApproval: waiting === 'approval',
        test: test === 'true',
        after: decodeCursor(cursor),
        limit,
      });
    },
  );

  app.get(
    '/executions/:id',
    {
      schema: {
        operationId: 'getExecution',
        tags: TAGS,
        summary: 'One run with every node of its pinned definition',
        description:
          'Nodes come from the Postgres mirror, in definition order; nodes the run has not reached are PENDING. ' +
          "With ?live=1 the workflow's `state` query is merged in (skipped, with `live: false`, when Temporal does not answer).",
        params: ExecutionIdParams,
        querystring: DetailQuery,
        response: { 200: ExecutionDetailSchema, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const live = request.query.live === '1' || request.query.live === 'true';
      return executionDetail(deps, request.tenantId, request.params.id, { live });
    },
  );

  await app.register(executionActionRoutes, { deps, counts });
  await app.register(executionRerunRoutes, { deps, counts });
};
