import { useEffect, useState } from 'react';
import { api, uiConfig, type MapItemsPage, type UiConfig } from './api';
import { bodyRunUrl } from './temporal-links';

const PAGE_SIZE = 20;

/**
 * A map node's items (a loop's kept iterations), a page at a time in index order: status,
 * attempt and a link to the workflow that ran each one in the Temporal Web UI. Refetched when
 * the node's status or its recorded count moves (SSE counts are throttled).
 */
export function MapItemList(props: { executionId: string; nodeId: string; type: string; status: string; recorded?: number }) {
  const { executionId, nodeId, type, status, recorded } = props;
  const [config, setConfig] = useState<UiConfig>();
  const [cursors, setCursors] = useState<string[]>([]);
  const [page, setPage] = useState<MapItemsPage>();
  const cursor = cursors[cursors.length - 1];

  useEffect(() => void uiConfig().then(setConfig), []);
  useEffect(() => setCursors([]), [executionId, nodeId]);
  useEffect(() => {
    if (type !== 'map' && type !== 'loop') return;
    let stale = false;
    const query = `limit=${PAGE_SIZE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    api<MapItemsPage>('GET', `/executions/${encodeURIComponent(executionId)}/nodes/${encodeURIComponent(nodeId)}/items?${query}`)
      .then((p) => !stale && setPage(p))
      .catch(() => !stale && setPage(undefined)); // no items yet
    return () => {
      stale = true;
    };
  }, [executionId, nodeId, type, status, recorded, cursor]);

  if ((type !== 'map' && type !== 'loop') || !page || (page.items.length === 0 && cursors.length === 0)) return null;
  return (
    <div data-testid="map-items">
      <h3>{type === 'loop' ? 'Iterations' : 'Items'}</h3>
      <table className="list small">
        <tbody>
          {page.items.map((item) => {
            const url = config && bodyRunUrl(config, item);
            return (
              <tr key={item.index} data-testid="map-item">
                <td className="mono">{type === 'loop' ? `iteration ${item.index}` : `#${item.index}`}</td>
                <td>
                  <span className={`badge ${item.status}`}>{item.status.toLowerCase()}</span>
                  {item.attempt > 1 && <> attempt {item.attempt}</>}
                </td>
                <td>
                  {url ? (
                    <a href={url} target="_blank" rel="noreferrer" title={item.workflowId ?? undefined}>
                      body run ↗
                    </a>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {(cursors.length > 0 || page.nextCursor) && (
        <div className="pager">
          <button disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
            ← Previous
          </button>
          <button disabled={!page.nextCursor} onClick={() => page.nextCursor && setCursors((c) => [...c, page.nextCursor!])}>
            Next →
          </button>
        </div>
      )}
    </div>
  );
}
