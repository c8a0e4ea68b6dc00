import type { Db } from '../db/client';
import type { MapItemStatus } from '../domain/status';
import { notFound } from './errors';
import { mapItemCounts, mapItemRows, nodeRunState, type MapItemCounts, type MapItemView } from '../mirror';
import { findExecution } from './execution-view';

export interface MapItemsPage {
  items: MapItemView[];
  nextCursor: string | null;
  counts: MapItemCounts;
}

/**
 * A page of a map node's items (or a loop node's kept iterations), in index order, with the
 * node's counts. 404 for another tenant's run, and for a node that is neither a map nor a loop.
 */
export async function mapItemsPage(
  db: Db,
  query: { tenantId: string; executionId: string; nodeId: string; status?: MapItemStatus; after?: number; limit: number },
): Promise<MapItemsPage> {
  const { executionId, nodeId, limit } = query;
  await findExecution(db, query.tenantId, executionId);
  const node = await nodeRunState(db, executionId, nodeId);
  if (node && node.type !== 'map' && node.type !== 'loop') throw notFound(`map node ${nodeId}`);
  const [rows, counts] = await Promise.all([
    mapItemRows(db, { executionId, nodeId, ...(query.status && { status: query.status }), ...(query.after !== undefined && { after: query.after }), limit: limit + 1 }),
    mapItemCounts(db, executionId, nodeId),
  ]);
  if (!node && rows.length === 0) throw notFound(`map node ${nodeId}`);
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? String(last.index) : null, counts };
}

