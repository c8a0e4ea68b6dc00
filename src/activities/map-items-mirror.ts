import type { Db } from '../db/client';
import { writeMapItems } from '../mirror';
import type { MapItemsActivities, MapItemsBatch } from '../contracts/map-items';

/**
 * Map items in the Postgres mirror (src/mirror/map-items.ts): one row per item, written in
 * batches by the workflow that ran them. Without a database (tests) nothing is written.
 */
export function createMapItemsActivities(db?: Db): MapItemsActivities {
  return {
    async recordMapItems(batch: MapItemsBatch): Promise<void> {
      if (!db) return;
      await writeMapItems(db, batch);
    },
  };
}
