import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../deps';
import { ApiError, badRequest, conflict } from '../errors';
import { errorResponses } from '../schemas';
import { NameParams, NoContent, SECRET_TAGS as tags, SecretList, SecretSummary, ValueBody } from './secret-schemas';
import { MASTER_KEY_ENV, MAX_SECRET_BYTES, deleteSecret, listSecrets, putSecret } from '../../services/secrets';

/**
 * Tenant secrets (DESIGN.md §3). Values are write-only: they are sealed before they reach the
 * database and no route ever returns them; runs resolve them inside activities.
 */
export const secretRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  const { db } = deps;
  const keyring = () => {
    if (!deps.masterKeys) {
      throw new ApiError(503, 'SECRETS_UNAVAILABLE', `secrets cannot be stored: ${MASTER_KEY_ENV} is not set on the API server`);
    }
    return deps.masterKeys;
  };
  const checkSize = (value: string) => {
    const bytes = Buffer.byteLength(value);
    if (bytes > MAX_SECRET_BYTES) throw badRequest(`/body/value is ${bytes} bytes; the limit is ${MAX_SECRET_BYTES}`, [{ path: '/body/value', message: 'too large' }]);
  };

  app.put(
    '/secrets/:name',
    {
      schema: {
        operationId: 'putSecret',
        tags,
        summary: 'Create or replace a secret (each write is a new version)',
        params: NameParams,
        body: ValueBody,
        response: { 200: SecretSummary, ...errorResponses(400, 401, 413, 429, 503) },
      },
    },
    async (request) => {
      checkSize(request.body.value);
      return putSecret(db, keyring(), request.tenantId, request.params.name, request.body.value);
    },
  );

  app.post(
    '/secrets/:name',
    {
      schema: {
        operationId: 'createSecret',
        tags,
        summary: 'Create a secret; 409 when the name is taken (PUT replaces)',
        params: NameParams,
        body: ValueBody,
        response: { 201: SecretSummary, ...errorResponses(400, 401, 409, 413, 429, 503) },
      },
    },
    async (request, reply) => {
      checkSize(request.body.value);
      const ring = keyring();
      const existing = await db.secret.findUnique({ where: { tenantId_name: { tenantId: request.tenantId, name: request.params.name } }, select: { name: true } });
      if (existing) throw conflict(`secret ${request.params.name} already exists (PUT /secrets/${request.params.name} replaces it)`);
      try {
        return reply.status(201).send(await putSecret(db, ring, request.tenantId, request.params.name, request.body.value, { createOnly: true }));
      } catch (err) {
        if ((err as { code?: string }).code === 'P2002') throw conflict(`secret ${request.params.name} already exists`);
        throw err;
      }
    },
  );

  app.get(
    '/secrets',
    {
      schema: {
        operationId: 'listSecrets',
        tags,
        summary: "The tenant's secrets: names, versions and timestamps, never values",
        response: { 200: SecretList, ...errorResponses(401, 429) },
      },
    },
    async (request) => ({ items: await listSecrets(db, request.tenantId) }),
  );

  app.delete(
    '/secrets/:name',
    {
      schema: {
        operationId: 'deleteSecret',
        tags,
        summary: 'Delete a secret; runs that reference it fail with SecretNotFound',
        params: NameParams,
        response: { 204: NoContent, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request, reply) => {
      await deleteSecret(db, request.tenantId, request.params.name);
      return reply.status(204).send(null);
    },
  );
};
