import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { parseDuration } from '../../domain/duration';
import { validateDefinition } from '../../domain/validate';
import { hashSecret, newSecret } from '../../services/api-keys';
import { workflowStats } from '../../services/workflow-stats';
import {
  addWorkflowVersion,
  archiveWorkflow,
  createWorkflow,
  getWorkflow,
  getWorkflowVersion,
  listWorkflows,
  setHookTokenHash,
  findWorkflow,
} from '../../services/workflows';
import type { ApiLimits, AppDeps } from '../deps';
import { pauseSchedulesOfWorkflow } from '../../services/schedules';
import { secretNames } from '../../services/secrets';
import { testNode } from '../../services/test-node';
import type { WorkflowDefinition } from '../../domain/definition';
import { ApiError, badRequest } from '../errors';
import { decodeCursor, errorResponses } from '../schemas';
import {
  CreateBody,
  DEFAULT_PAGE_SIZE,
  DEFAULT_STATS_WINDOW,
  HookToken,
  IdParams,
  StatsQuery,
  TestNodeBody,
  TestNodeResult,
  UpdateBody,
  ValidateBody,
  ValidationResult,
  VersionParams,
  WorkflowDetail,
  WorkflowPage,
  WorkflowStats,
  WorkflowVersion,
  listQuery,
} from './workflow-schemas';

const MAX_STATS_WINDOW_MS = 90 * 86_400_000;
const tags = ['workflows'];

/** Workflow definitions and their immutable versions, scoped to the caller's tenant. */
export const workflowRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps; limits: ApiLimits }> = async (app, { deps, limits }) => {
  const { db } = deps;

  /** The tenant's secret names, read only when the definition mentions secrets at all. */
  const secretNamesFor = async (tenantId: string, definition: unknown) =>
    JSON.stringify(definition ?? null).includes('secrets') ? secretNames(db, tenantId) : new Set<string>();

  /** Rejects a definition the engine would refuse, with every problem's path under /definition. */
  const checkDefinition = async (definition: unknown, tenantId: string): Promise<void> => {
    const bytes = Buffer.byteLength(JSON.stringify(definition) ?? '');
    if (bytes > limits.definitionBytes) {
      throw new ApiError(400, 'DEFINITION_TOO_LARGE', `definition is ${bytes} bytes; the limit is ${limits.definitionBytes}`, {
        bytes,
        limit: limits.definitionBytes,
      });
    }
    const result = validateDefinition(definition, { catalog: deps.catalog, secretNames: await secretNamesFor(tenantId, definition) });
    if (!result.valid) {
      const details = result.errors.map((e) => ({ path: `/definition${e.path}`, message: e.message }));
      throw badRequest(`invalid workflow definition: ${details.length} problem(s)`, details);
    }
  };

  app.post(
    '/workflows',
    {
      schema: {
        operationId: 'createWorkflow',
        tags,
        summary: 'Create a workflow (version 1)',
        body: CreateBody,
        response: { 201: WorkflowDetail, ...errorResponses(400, 401, 413, 429) },
      },
    },
    async (request, reply) => {
      await checkDefinition(request.body.definition, request.tenantId);
      const workflow = await createWorkflow(db, request.tenantId, request.body);
      return reply.status(201).send(workflow);
    },
  );

  app.get(
    '/workflows',
    {
      schema: {
        operationId: 'listWorkflows',
        tags,
        summary: 'List workflows, newest first',
        querystring: listQuery(limits.maxPageSize),
        response: { 200: WorkflowPage, ...errorResponses(400, 401, 429) },
      },
    },
    async (request) =>
      listWorkflows(db, request.tenantId, {
        limit: request.query.limit ?? Math.min(DEFAULT_PAGE_SIZE, limits.maxPageSize),
        cursor: decodeCursor(request.query.cursor),
        includeArchived: request.query.includeArchived ?? false,
      }),
  );

  app.post(
    '/workflows/validate',
    {
      schema: {
        operationId: 'validateWorkflow',
        tags,
        summary: 'Validate a definition without saving it',
        description: 'An invalid definition is a 200 with valid=false and every problem; 400 means the envelope itself is wrong.',
        body: ValidateBody,
        response: { 200: ValidationResult, ...errorResponses(400, 401, 413, 429) },
      },
    },
    async (request) =>
      validateDefinition(request.body.definition, {
        catalog: deps.catalog,
        secretNames: await secretNamesFor(request.tenantId, request.body.definition),
      }),
  );

  app.post(
    '/workflows/test-node',
    {
      schema: {
        operationId: 'testNode',
        tags,
        summary: 'Run one node against a given context',
        description:
          'In-workflow types (transform, condition, switch, noop, fail) are evaluated here with the engine and limits of a run; activity types ' +
          "run once for real on a worker, under the caller's tenant (its secrets and connections, the SSRF guard), with the node's timeout " +
          'and no retries, leaving no run behind. A node that fails is a 200 with status FAILED; 400 is for a request that cannot be tested ' +
          '(both or neither of definition and workflowId, an unknown node, a type that waits or starts child runs, too large a context). ' +
          "An activity test counts against the tenant's runs in progress (429 TOO_MANY_RUNS at the cap).",
        body: TestNodeBody,
        response: { 200: TestNodeResult, ...errorResponses(400, 401, 404, 413, 429, 503) },
      },
    },
    async (request) => {
      const { definition, workflowId, version, nodeId, input, nodes } = request.body;
      if ((definition === undefined) === (workflowId === undefined)) {
        throw badRequest('give exactly one of definition and workflowId', [{ path: '/body', message: 'must have either definition or workflowId, not both' }]);
      }
      if (version !== undefined && workflowId === undefined) {
        throw badRequest('version needs a workflowId', [{ path: '/body/version', message: 'only with workflowId' }]);
      }
      if (definition !== undefined) await checkDefinition(definition, request.tenantId);
      return testNode(deps, {
        tenantId: request.tenantId,
        ...(definition === undefined ? { workflowId: workflowId!, ...(version === undefined ? {} : { version }) } : { definition: definition as WorkflowDefinition }),
        nodeId,
        ...(input === undefined ? {} : { input }),
        ...(nodes === undefined ? {} : { nodes }),
      });
    },
  );

  app.get(
    '/workflows/:id',
    {
      schema: {
        operationId: 'getWorkflow',
        tags,
        summary: 'The workflow with its latest definition',
        params: IdParams,
        response: { 200: WorkflowDetail, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => getWorkflow(db, request.tenantId, request.params.id),
  );

  app.put(
    '/workflows/:id',
    {
      schema: {
        operationId: 'updateWorkflow',
        tags,
        summary: 'Store a new immutable version',
        params: IdParams,
        body: UpdateBody,
        response: { 200: WorkflowDetail, ...errorResponses(400, 401, 404, 409, 413, 429) },
      },
    },
    async (request) => {
      await checkDefinition(request.body.definition, request.tenantId);
      return addWorkflowVersion(db, request.tenantId, request.params.id, request.body);
    },
  );

  app.get(
    '/workflows/:id/versions/:version',
    {
      schema: {
        operationId: 'getWorkflowVersion',
        tags,
        summary: 'One version of a workflow',
        params: VersionParams,
        response: { 200: WorkflowVersion, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => getWorkflowVersion(db, request.tenantId, request.params.id, request.params.version),
  );

  app.delete(
    '/workflows/:id',
    {
      schema: {
        operationId: 'archiveWorkflow',
        tags,
        summary: 'Archive: no new runs; versions and run history are kept',
        params: IdParams,
        response: { 204: Type.Null({ description: 'archived (also when it already was)' }), ...errorResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request, reply) => {
      await archiveWorkflow(db, request.tenantId, request.params.id);
      // An archived workflow takes no new runs, so its schedules stop firing too.
      await pauseSchedulesOfWorkflow(deps, request.tenantId, request.params.id, 'workflow archived');
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/workflows/:id/stats',
    {
      schema: {
        operationId: 'getWorkflowStats',
        tags,
        summary: 'Run counts and durations over a window of start times',
        params: IdParams,
        querystring: StatsQuery,
        response: { 200: WorkflowStats, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const window = request.query.window ?? DEFAULT_STATS_WINDOW;
      const ms = parseDuration(window);
      if (ms === undefined || ms <= 0 || ms > MAX_STATS_WINDOW_MS) {
        throw badRequest('invalid stats window', [
          { path: '/querystring/window', message: 'must be a duration greater than 0 and at most 90d (e.g. "1h", "24h", "7d")' },
        ]);
      }
      await findWorkflow(db, request.tenantId, request.params.id);
      const stats = await workflowStats(db, request.tenantId, request.params.id, new Date(Date.now() - ms));
      return { window, ...stats };
    },
  );

  app.post(
    '/workflows/:id/hook-token',
    {
      schema: {
        operationId: 'createHookToken',
        tags,
        summary: 'Create or rotate the webhook token (the old one stops working)',
        params: IdParams,
        response: { 201: HookToken, ...errorResponses(400, 401, 404, 409, 413, 429) },
      },
    },
    async (request, reply) => {
      const token = newSecret('whk_');
      await setHookTokenHash(db, request.tenantId, request.params.id, hashSecret(token));
      return reply.status(201).send({ token, url: `/hooks/${request.params.id}/${token}` });
    },
  );

  app.delete(
    '/workflows/:id/hook-token',
    {
      schema: {
        operationId: 'deleteHookToken',
        tags,
        summary: 'Disable the webhook',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      await setHookTokenHash(db, request.tenantId, request.params.id, null);
      return reply.status(204).send(null);
    },
  );
};
