import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../deps';
import type { StartCounts } from '../metrics';
import { conflict, notFound } from '../errors';
import { isTerminal } from '../../domain/definition';
import { RETRYABLE_EXECUTION_STATUSES, isOpenExecution } from '../../domain/status';
import { RETRY_HINT, startExecution } from '../../services/executions';
import { temporalUnavailable } from '../../services/errors';
import { findExecution, nodeRunState, pinnedDefinition, reusableOutputs } from '../../services/execution-view';
import { setExecutionPaused } from '../../services/run-pause';
import {
  ApproveBody,
  ApproveResponse,
  CancelBody,
  CancelResponse,
  ExecutionIdParams,
  IdempotencyHeaders,
  NodeParams,
  PauseResponse,
  RetryResponse,
  errorResponses,
} from './execution-schemas';

const TAGS = ['executions'];
/** Runs that ended without succeeding; only those can be retried. */
const RETRYABLE: ReadonlySet<string> = new Set(RETRYABLE_EXECUTION_STATUSES);

/** Cancel, approve and retry: each checks the mirror first so a doomed signal is a 409, not a silent no-op. */
export const executionActionRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps; counts: StartCounts }> = async (
  app,
  { deps, counts },
) => {
  app.post(
    '/executions/:id/cancel',
    {
      schema: {
        operationId: 'cancelExecution',
        tags: TAGS,
        summary: 'Cancel a running run',
        description:
          'Sent to the workflow as the `cancel` signal. In-flight nodes are cancelled, nodes not started end CANCELLED, cleanup ' +
          '(`all_done` / `always`) nodes still run, then the run ends CANCELLED. `force` (or a second cancel) skips cleanup.',
        params: ExecutionIdParams,
        body: CancelBody,
        response: { 202: CancelResponse, ...errorResponses(400, 401, 404, 409, 413, 429, 503) },
      },
      // The reason is optional, so a bare POST without a body is a valid cancel request too.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const execution = await findExecution(deps.db, request.tenantId, request.params.id);
      if (!isOpenExecution(execution.status)) {
        throw conflict(`execution ${execution.id} is ${execution.status}; only a QUEUED or RUNNING run can be cancelled`, { status: execution.status });
      }
      try {
        await deps.temporal.cancelRun(execution.id, request.body.reason, request.body.force);
      } catch {
        throw temporalUnavailable('the cancel signal was not delivered', { hint: RETRY_HINT });
      }
      return reply.status(202).send({ id: execution.id, status: execution.status, cancelRequested: true });
    },
  );

  for (const paused of [true, false]) {
    app.post(
      paused ? '/executions/:id/pause' : '/executions/:id/resume',
      {
        schema: {
          operationId: paused ? 'pauseExecution' : 'resumeExecution',
          tags: TAGS,
          summary: paused ? 'Pause a run: it starts no new node' : 'Resume a paused run',
          description: paused
            ? 'Sent as the `pause` signal. The run starts no new node, map item or loop iteration; what is in flight finishes, ' +
              'timers and approvals keep waiting, runTimeout keeps counting, cancel still works (and lifts the pause: cleanup ' +
              'nodes run as for any cancel). The status stays RUNNING; GET shows `paused: true` once the run has taken it. ' +
              'Pausing a paused run changes nothing. 409 EXECUTION_CLOSED for a run that has ended.'
            : 'Sent as the `resume` signal: the nodes held by the pause start. Resuming a run that is not paused changes nothing.',
          params: ExecutionIdParams,
          response: { 202: PauseResponse, ...errorResponses(400, 401, 404, 409, 413, 429, 503) },
        },
      },
      async (request, reply) => {
        // Recorded from the key that made the call, never from what the client claims.
        const by = `apikey:${request.principal.keyName ?? request.principal.keyId}`;
        const result = await setExecutionPaused(deps, { tenantId: request.tenantId, id: request.params.id, paused, by });
        return reply.status(202).send(result);
      },
    );
  }

  app.post(
    '/executions/:id/nodes/:nodeId/approve',
    {
      schema: {
        operationId: 'approveNode',
        tags: TAGS,
        summary: 'Decide an approval node',
        description: 'Sent as the `approve` signal. A decision that arrives before the node waits is kept for it.',
        params: NodeParams,
        body: ApproveBody,
        response: { 202: ApproveResponse, ...errorResponses(400, 401, 404, 409, 413, 429, 503) },
      },
    },
    async (request, reply) => {
      const { id, nodeId } = request.params;
      const execution = await findExecution(deps.db, request.tenantId, id);
      const definition = await pinnedDefinition(deps.db, execution);
      const node = definition?.nodes.find((n) => n.id === nodeId);
      if (!node) throw notFound(`node ${nodeId} of execution ${id}`);
      if (node.type !== 'approval') throw conflict(`node ${nodeId} is a ${node.type} node, not an approval node`);
      if (execution.status !== 'RUNNING') {
        throw conflict(`execution ${id} is ${execution.status}; it takes no more decisions`, { status: execution.status });
      }
      const run = await nodeRunState(deps.db, id, nodeId);
      if (run && isTerminal(run.status)) {
        throw conflict(`node ${nodeId} is already ${run.status}`, { status: run.status });
      }
      const { approved, data } = request.body;
      // Recorded from the key that made the call, never from what the client claims.
      const by = `apikey:${request.principal.keyName ?? request.principal.keyId}`;
      try {
        await deps.temporal.approve(id, { nodeId, approved, ...(data === undefined ? {} : { data }), by });
      } catch {
        throw temporalUnavailable('the approval signal was not delivered', { hint: RETRY_HINT });
      }
      return reply.status(202).send({ id, nodeId, approved, by });
    },
  );

  app.post(
    '/executions/:id/retry',
    {
      schema: {
        operationId: 'retryExecution',
        tags: TAGS,
        summary: 'Retry a run that did not succeed',
        description:
          'Starts a new run of the same workflow version with the same input. Nodes that SUCCEEDED in this run are not run ' +
          'again: the new run reuses their outputs (listed in `reused`).',
        params: ExecutionIdParams,
        headers: IdempotencyHeaders,
        response: { 202: RetryResponse, ...errorResponses(400, 401, 404, 409, 413, 429, 503) },
      },
    },
    async (request, reply) => {
      const failed = await findExecution(deps.db, request.tenantId, request.params.id);
      if (!RETRYABLE.has(failed.status)) {
        throw conflict(`execution ${failed.id} is ${failed.status}; only FAILED, CANCELLED or TIMED_OUT runs can be retried`, {
          status: failed.status,
        });
      }
      // Its mocks are not kept: a retry would run the mocked nodes for real (a failed mocked http call, say).
      if (failed.test) throw conflict(`execution ${failed.id} is a test run (started with mocks); start a new test run instead`, { test: true });
      // A map that failed keeps its items' results: the retry runs only the items that did not succeed.
      const { reuse, reuseItems } = await reusableOutputs(deps.db, failed.id);
      const { execution, created } = await counts.droppedFrom('RETRY', startExecution(deps, {
        tenantId: request.tenantId,
        workflowId: failed.workflowId,
        version: failed.version,
        input: failed.input ?? undefined,
        idempotencyKey: request.headers['idempotency-key'],
        trigger: 'RETRY',
        retryOf: failed.id,
        reuse,
        reuseItems,
      }));
      // A reused key must name a retry of this very run, or `reused` would describe the wrong run.
      if (!created && execution.retryOf !== failed.id) {
        throw conflict(`idempotency key already used for execution ${execution.id}`, { executionId: execution.id });
      }
      if (created) counts.created('RETRY');
      else reply.header('idempotent-replayed', 'true');
      return reply.status(202).send({ ...execution, reused: Object.keys(reuse) });
    },
  );
};
