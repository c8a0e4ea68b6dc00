import { Type } from '@sinclair/typebox';
import { PUBLIC_ROUTE, errorResponses } from '../schemas';

/** The request and response shapes of POST /hooks/:workflowId/:token (routes/hooks.ts). */
const Accepted = Type.Object({
  id: Type.String(),
  status: Type.String(),
  workflowId: Type.String(),
  version: Type.Integer(),
});

/** onLimit drop found no free slot: no run was created; the drop is counted on the workflow (hookDroppedStarts). */
const Dropped = Type.Object({
  status: Type.Literal('DROPPED'),
  workflowId: Type.String(),
  dropped: Type.Object({ key: Type.String(), limit: Type.Integer(), message: Type.String() }),
});

export const StartByHookSchema = {
  operationId: 'startExecutionByHook',
  tags: ['hooks'],
  summary: 'Start a run of the workflow with the request body as input',
  description: 'The token from POST /workflows/:id/hook-token is the only credential. Idempotency-Key is honoured.',
  ...PUBLIC_ROUTE,
  headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
  body: Type.Optional(Type.Unknown({ description: 'any JSON; becomes the run input' })),
  params: Type.Object({ workflowId: Type.String(), token: Type.String() }),
  response: { 202: Type.Union([Accepted, Dropped]), ...errorResponses(400, 404, 409, 413, 429, 503) },
};
