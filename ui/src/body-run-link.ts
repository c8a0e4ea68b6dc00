import { temporalRunUrl, type MapItemsPage, type UiConfig } from './api';

export type MapItem = MapItemsPage['items'][number];

/**
 * The Temporal Web UI page of the workflow that ran a map item's body (or a loop iteration):
 * the run's own workflow for small maps, the map's child or one of its batch children for large
 * ones. Undefined for items recorded before the API kept it (no workflow id to open).
 */
export function bodyRunUrl(config: UiConfig, item: Pick<MapItem, 'workflowId' | 'runId'>): string | undefined {
  if (!item.workflowId) return undefined;
  return temporalRunUrl(config, item.workflowId, item.runId);
}
