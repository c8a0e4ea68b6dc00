import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../deps';
import type { StartCounts } from '../metrics';
import { badRequest, conflict, notFound } from '../errors';
import { isTerminalExecution } from '../../domain/status';
import { planRerun, type SourceNode } from '../../domain/rerun';
import { MAX_INPUT_BYTES, startExecution } from '../../services/executions';
import { findExecution, nodeRuns, pinnedDefinition } from '../../services/execution-view';
import { ExecutionIdParams, IdempotencyHeaders, RerunBody, RerunResponse, errorResponses } from './execution-schemas';

/** POST /executions/:id/rerun (DESIGN §6): a new run from any nodes, with edited outputs, a new input or another version. */
export const executionRerunRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps; counts: StartCounts }> = async (
  app,
  { deps, counts },
) => {
  app.post(
    '/executions/:id/rerun',
    {
      schema: {
        operationId: 'rerunExecution',
        tags: ['executions'],
        summary: 'Rerun a finished run from any nodes',
        description:
          'Starts a new run (trigger `RERUN`, `rerunOf` this run). `fromNodes` and every node downstream of them run again; the ' +
          "other nodes keep this run's outputs (`reused`), or the ones given in `outputs`. `input` replaces the run input, " +
          "`version` runs another version of the workflow, nodes matched by id. 400 lists every kept node a re-running node " +
          'reads that has no output.',
        params: ExecutionIdParams,
        headers: IdempotencyHeaders,
        body: RerunBody,
        response: { 202: RerunResponse, ...errorResponses(400, 401, 404, 409, 413, 429, 503) },
      },
    },
    async (request, reply) => {
      const source = await findExecution(deps.db, request.tenantId, request.params.id);
      if (!isTerminalExecution(source.status)) {
        throw conflict(`execution ${source.id} is ${source.status}; only a finished run can be rerun`, { status: source.status });
      }
      // Its mocks are not kept: a rerun would run the mocked nodes for real.
      if (source.test) throw conflict(`execution ${source.id} is a test run (started with mocks); start a new test run instead`, { test: true });
      const { fromNodes, outputs = {} } = request.body;
      const version = request.body.version ?? source.version;
      const definition = await pinnedDefinition(deps.db, { workflowId: source.workflowId, version });
      if (!definition) throw notFound(`version ${version} of workflow ${source.workflowId}`);
      const outputBytes = Buffer.byteLength(JSON.stringify(outputs), 'utf8');
      if (outputBytes > MAX_INPUT_BYTES) {
        throw badRequest(`outputs are ${outputBytes} bytes of JSON; the limit is ${MAX_INPUT_BYTES}`, [
          { path: '/body/outputs', message: `must be at most ${MAX_INPUT_BYTES} bytes as JSON` },
        ]);
      }
      const rows = await nodeRuns(deps.db, source.id);
      const sourceNodes = new Map<string, SourceNode>(rows.map((row) => [row.nodeId, { status: row.status, output: row.output }]));
      const plan = planRerun(definition, fromNodes, sourceNodes, outputs);
      if (!plan.ok) {
        throw badRequest(`the rerun cannot start: ${plan.problems.map((p) => p.message).join('; ')}`, plan.problems);
      }
      const { execution, created } = await counts.droppedFrom('RERUN', startExecution(deps, {
        tenantId: request.tenantId,
        workflowId: source.workflowId,
        version,
        input: Object.hasOwn(request.body, 'input') ? request.body.input : (source.input ?? undefined),
        idempotencyKey: request.headers['idempotency-key'],
        trigger: 'RERUN',
        retryOf: source.id,
        reuse: plan.reuse,
      }));
      // A reused key must name a rerun of this very run, or `reused` would describe the wrong run.
      if (!created && execution.rerunOf !== source.id) {
        throw conflict(`idempotency key already used for execution ${execution.id}`, { executionId: execution.id });
      }
      if (created) counts.created('RERUN');
      else reply.header('idempotent-replayed', 'true');
      return reply.status(202).send({ ...execution, reused: Object.keys(plan.reuse), rerun: plan.rerun });
    },
  );
};
