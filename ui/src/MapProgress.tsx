import { useEffect, useState } from 'react';
import { client, ok, type MapItemsPage } from './api';

/** A map node's item counts (from GET .../items, refreshed by the run's SSE `items` events). */
export type ItemCounts = MapItemsPage['counts'];

/**
 * Progress of a map node: a bar of finished items out of the total (known once the node is done,
 * from its output's counts) and the counts by status; for a loop, its iteration count.
 */
export function MapProgress(props: { executionId: string; nodeId: string; type: string; output: unknown; live?: ItemCounts; status: string }) {
  const { executionId, nodeId, type, output, live, status } = props;
  const [fetched, setFetched] = useState<ItemCounts>();
  useEffect(() => {
    if (type !== 'map') return;
    let stale = false;
    ok(client.GET('/executions/{id}/nodes/{nodeId}/items', { params: { path: { id: executionId, nodeId }, query: { limit: 1 } } }))
      .then((page) => !stale && setFetched(page.counts))
      .catch(() => undefined); // the node has no items yet: nothing to draw
    return () => {
      stale = true;
    };
  }, [executionId, nodeId, type, status]);

  if (type === 'loop') {
    const iterations = (output as { iterations?: number } | null)?.iterations;
    return iterations === undefined ? null : <p data-testid="loop-progress">iteration {iterations}</p>;
  }
  if (type !== 'map') return null;
  const counts = live ?? fetched;
  const total = (output as { counts?: { total?: number } } | null)?.counts?.total;
  if (!counts && total === undefined) return null;
  const done = counts?.recorded ?? 0;
  return (
    <div data-testid="map-progress">
      <progress value={done} max={total ?? Math.max(done, 1)} />{' '}
      <span className="small">
        {done}
        {total !== undefined && <> / {total}</>} items · {counts?.succeeded ?? 0} succeeded · {counts?.failed ?? 0} failed
        {counts?.cancelled ? <> · {counts.cancelled} cancelled</> : null}
      </span>
    </div>
  );
}
