import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { hookTenant } from '../../services/hooks';
import { startExecution } from '../../services/executions';
import { isStartDropped, recordDroppedHookStart } from '../../services/run-slots';
import type { ApiLimits, AppDeps } from '../deps';
import { ApiError } from '../errors';
import { PUBLIC_ROUTE, errorResponses } from '../schemas';
import { StartByHookSchema } from './hook-schemas';

/** One answer for every way a hook call can be unauthorized: it must not reveal which workflows exist. */
const hookNotFound = () => new ApiError(404, 'NOT_FOUND', 'hook not found');

/**
 * POST /hooks/:workflowId/:token starts a run with the request body as input. The token in the
 * path is the only credential (senders such as SaaS webhooks cannot add headers), so it is
 * checked in constant time against the stored hash. A start dropped by run-level concurrency
 * (onLimit drop) answers 202 `{ status: "DROPPED" }` and is counted on the workflow.
 */
export const hookRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps; limits: ApiLimits }> = async (app, { deps }) => {
  // Webhook senders often POST an empty body with a JSON content type; that is a run without input.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString();
    if (text.trim() === '') return done(null, {});
    return parseJson(request, text, done);
  });

  app.post('/hooks/:workflowId/:token', { schema: StartByHookSchema }, async (request, reply) => {
    const workflowId = request.params.workflowId;
    const tenantId = await authorize(request, workflowId, request.params.token);
    let started;
    try {
      started = await startExecution(
        { db: deps.db, temporal: deps.temporal, ...(deps.executionAdmission && { executionAdmission: deps.executionAdmission }) },
        {
          tenantId,
          workflowId,
          input: request.body ?? {},
          // Scoped to the hook, so a key can never answer with (or collide with) a run started another way.
          idempotencyKey: idempotencyKey(request, workflowId),
          trigger: 'WEBHOOK',
        },
      );
    } catch (err) {
      if (!isStartDropped(err)) throw err;
      // DESIGN §5: a webhook's dropped start is recorded as dropped, no run. Answered 202 (the call
      // was handled as the workflow says), not an error a sender would retry.
      await recordDroppedHookStart(deps.db, tenantId, workflowId);
      app.metrics.startsDropped.inc({ trigger: 'WEBHOOK' });
      return reply.status(202).send({ status: 'DROPPED', workflowId, dropped: { key: err.details.key, limit: err.details.limit, message: err.message } });
    }
    const { execution, created } = started;
    if (created) app.metrics.runsStarted.inc({ trigger: 'WEBHOOK' });
    const { id, status, version } = execution;
    return reply.status(202).send({ id, status, workflowId: execution.workflowId, version });
  });

  // Without a token the answer is the same 404 as with a wrong one.
  app.post('/hooks/:workflowId', { schema: { hide: true, ...PUBLIC_ROUTE, response: errorResponses(404) } }, async () => {
    throw hookNotFound();
  });

  /** The tenant of the workflow the token opens, or a 404 whatever the reason it does not. */
  async function authorize(request: FastifyRequest, workflowId: string, token: string): Promise<string> {
    const tenantId = await hookTenant(deps.db, workflowId, token);
    if (tenantId === undefined) {
      request.log.info({ workflowId }, 'hook call refused');
      throw hookNotFound();
    }
    return tenantId;
  }
};

function idempotencyKey(request: FastifyRequest, workflowId: string): string | undefined {
  const header = request.headers['idempotency-key'];
  return typeof header === 'string' && header !== '' ? `hook:${workflowId}:${header}` : undefined;
}
