import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps, ApiLimits } from '../deps';
import { badRequest } from '../errors';
import { MAP_ITEM_STATUSES } from '../../domain/status';
import { mapItemsPage } from '../../services/map-items';
import { NodeParams, errorResponses } from './execution-schemas';
import { DateTime, Nullable, Page, StringEnum, pageQuery } from '../schemas';

const ITEM_STATUSES = MAP_ITEM_STATUSES;

const ItemsQuery = (maxPageSize: number) =>
  Type.Object({
    status: Type.Optional(StringEnum(ITEM_STATUSES)),
    ...pageQuery({ maxPageSize, defaultLimit: 100, cursorMaxLength: 20 }),
  });

const ItemSchema = Type.Object({
  index: Type.Integer(),
  status: Type.String(),
  attempt: Type.Integer(),
  startedAt: Nullable(DateTime),
  finishedAt: Nullable(DateTime),
  output: Type.Unknown(),
  error: Type.Unknown(),
  workflowId: Nullable(Type.String(), {
    description: "The Temporal workflow that ran the item's body (the run's own, the map's child or a batch child); null for items recorded before it was kept",
  }),
  runId: Nullable(Type.String(), { description: "That workflow's run id (the generation that ran the item); null like workflowId" }),
});

const ItemsPage = Type.Object({
  ...Page(ItemSchema),
  counts: Type.Object(
    { recorded: Type.Integer(), succeeded: Type.Integer(), failed: Type.Integer(), cancelled: Type.Integer() },
    { description: 'Items finished so far, by status (items are recorded as they finish)' },
  ),
});

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
