import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps, ApiLimits } from '../deps';
import { badRequest, notFound } from '../errors';
import { findExecution } from '../../services/execution-view';
import { NodeParams, errorResponses } from './execution-schemas';
import { DateTime, Nullable, Page, StringEnum, pageQuery } from '../schemas';

const ITEM_STATUSES = ['SUCCEEDED', 'FAILED', 'CANCELLED'] as const;

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
      await findExecution(deps.db, request.tenantId, id);
      const node = await deps.db.nodeRun.findUnique({ where: { executionId_nodeId: { executionId: id, nodeId } }, select: { type: true } });
      if (node && node.type !== 'map' && node.type !== 'loop') throw notFound(`map node ${nodeId}`);
      const after = decodeIndexCursor(request.query.cursor);
      const limit = request.query.limit ?? Math.min(100, limits.maxPageSize);
      const where = { executionId: id, nodeId, ...(request.query.status && { status: request.query.status }) };
      const [rows, grouped] = await Promise.all([
        deps.db.mapItem.findMany({
          where: { ...where, ...(after !== undefined && { index: { gt: after } }) },
          orderBy: { index: 'asc' },
          take: limit + 1,
        }),
        deps.db.mapItem.groupBy({ by: ['status'], where: { executionId: id, nodeId }, _count: { _all: true } }),
      ]);
      if (!node && rows.length === 0) throw notFound(`map node ${nodeId}`);
      const count = (status: string) => grouped.find((g) => g.status === status)?._count._all ?? 0;
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map((r) => ({
          index: r.index,
          status: r.status,
          attempt: r.attempt,
          startedAt: r.startedAt?.toISOString() ?? null,
          finishedAt: r.finishedAt?.toISOString() ?? null,
          output: r.output,
          error: r.error,
        })),
        nextCursor: rows.length > limit && last ? String(last.index) : null,
        counts: {
          recorded: grouped.reduce((n, g) => n + g._count._all, 0),
          succeeded: count('SUCCEEDED'),
          failed: count('FAILED'),
          cancelled: count('CANCELLED'),
        },
      };
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
