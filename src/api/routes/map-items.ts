import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps, ApiLimits } from '../deps';
import { badRequest } from '../errors';
import { mapItemsPage } from '../../services/map-items';
import { NodeParams, errorResponses } from './execution-schemas';
import { ItemsPage, ItemsQuery } from './map-item-schemas';

/** Pages through a map node's items (or a loop node's kept iterations), in index order. */
export const mapItemRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps; limits: ApiLimits }> = async (app, { deps, limits }) => {
  app.get(
    '/executions/:id/nodes/:nodeId/items',
    {
      schema: {
        operationId: 'listMapItems',
        tags: ['executions'],
        summary: "A map node's items",
        description: 'Items are written in batches as they finish; filter by `status`, page with `cursor`.',
        params: NodeParams,
        querystring: ItemsQuery(limits.maxPageSize),
        response: { 200: ItemsPage, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const { id, nodeId } = request.params;
      return mapItemsPage(deps.db, {
        tenantId: request.tenantId,
        executionId: id,
        nodeId,
        ...(request.query.status && { status: request.query.status }),
        after: decodeIndexCursor(request.query.cursor),
        limit: request.query.limit ?? Math.min(100, limits.maxPageSize),
      });
    },
  );
};

function decodeIndexCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const index = Number(cursor);
  if (!/^\d{1,9}$/.test(cursor) || !Number.isSafeInteger(index)) {
    throw badRequest('invalid cursor', [{ path: '/querystring/cursor', message: 'is not a cursor returned by this API' }]);
  }
  return index;
}
