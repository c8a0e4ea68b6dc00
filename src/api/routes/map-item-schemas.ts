import { Type } from '@sinclair/typebox';
import { MAP_ITEM_STATUSES } from '../../domain/status';
import { DateTime, Nullable, Page, StringEnum, pageQuery } from '../schemas';

/** The request and response shapes of GET /executions/:id/nodes/:nodeId/items (routes/map-items.ts). */
export const ItemsQuery = (maxPageSize: number) =>
  Type.Object({
    status: Type.Optional(StringEnum(MAP_ITEM_STATUSES)),
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

export const ItemsPage = Type.Object({
  ...Page(ItemSchema),
  counts: Type.Object(
    { recorded: Type.Integer(), succeeded: Type.Integer(), failed: Type.Integer(), cancelled: Type.Integer() },
    { description: 'Items finished so far, by status (items are recorded as they finish)' },
  ),
});
