import { Fragment, useEffect, useState } from 'react';
import { client, ok, uiConfig, type MapItemsPage, type UiConfig } from './api';
import { duration, json } from './format';
import { bodyRunUrl } from './temporal-links';

const PAGE_SIZE = 20;
const ITEM_STATUSES = ['SUCCEEDED', 'FAILED', 'CANCELLED'] as const;

/** A short one-line preview of a value; the whole of it is in the cell's title and in the expanded row. */
function preview(value: unknown, max = 60): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * A map node's items (a loop's kept iterations), a page at a time in index order, filtered by
 * status: status and attempt, duration, error, output, and a link to the workflow that ran each
 * one in the Temporal Web UI; a click on a row shows its output and error in full. Refetched
 * when the node's status or its recorded count moves (SSE counts are throttled).
 */
export function MapItemList(props: { executionId: string; nodeId: string; type: string; status: string; recorded?: number }) {
  const { executionId, nodeId, type, status, recorded } = props;
  const [config, setConfig] = useState<UiConfig>();
  const [cursors, setCursors] = useState<string[]>([]);
  const [filter, setFilter] = useState<'' | (typeof ITEM_STATUSES)[number]>('');
  const [page, setPage] = useState<MapItemsPage>();
  const [open, setOpen] = useState<number>();
  const cursor = cursors[cursors.length - 1];

  useEffect(() => void uiConfig().then(setConfig), []);
  useEffect(() => setCursors([]), [executionId, nodeId, filter]);
  useEffect(() => {
    if (type !== 'map' && type !== 'loop') return;
    let stale = false;
    const query = { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}), ...(filter ? { status: filter } : {}) };
    ok(client.GET('/executions/{id}/nodes/{nodeId}/items', { params: { path: { id: executionId, nodeId }, query } }))
      .then((p) => !stale && setPage(p))
      .catch(() => !stale && setPage(undefined)); // no items yet
    return () => {
      stale = true;
    };
  }, [executionId, nodeId, type, status, recorded, cursor, filter]);

  if ((type !== 'map' && type !== 'loop') || !page || (page.counts.recorded === 0 && cursors.length === 0)) return null;
  const count = (s: (typeof ITEM_STATUSES)[number]) => (s === 'SUCCEEDED' ? page.counts.succeeded : s === 'FAILED' ? page.counts.failed : page.counts.cancelled);
  return (
    <div data-testid="map-items">
      <h3>{type === 'loop' ? 'Iterations' : 'Items'}</h3>
      <div className="row small">
        <label>
          status{' '}
          <select aria-label="item status filter" value={filter} onChange={(e) => setFilter(e.target.value as typeof filter)}>
            <option value="">any ({page.counts.recorded})</option>
            {ITEM_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.toLowerCase()} ({count(s)})
              </option>
            ))}
          </select>
        </label>
      </div>
      <table className="list small items">
        <thead>
          <tr>
            <th>{type === 'loop' ? 'Iteration' : 'Item'}</th>
            <th>Status</th>
            <th>Duration</th>
            <th>Error / output</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {page.items.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                none {filter ? filter.toLowerCase() : ''}
              </td>
            </tr>
          )}
          {page.items.map((item) => {
            const url = config && bodyRunUrl(config, item);
            const err = item.error as { type?: string; message?: string } | null;
            return (
              <Fragment key={item.index}>
                <tr data-testid="map-item" className="clickable" onClick={() => setOpen(open === item.index ? undefined : item.index)}>
                  <td className="mono">{type === 'loop' ? item.index : `#${item.index}`}</td>
                  <td>
                    <span className={`badge ${item.status}`}>{item.status.toLowerCase()}</span>
                    {item.attempt > 1 && <> attempt {item.attempt}</>}
                  </td>
                  <td>{duration(item.startedAt, item.finishedAt)}</td>
                  <td className="mono cell-preview" title={err ? `${err.type ?? ''}: ${err.message ?? ''}` : preview(item.output, 2000)}>
                    {err ? <span className="error" data-testid="item-error">{preview(`${err.type ? `${err.type}: ` : ''}${err.message ?? ''}`)}</span> : preview(item.output)}
                  </td>
                  <td>
                    {url ? (
                      <a href={url} target="_blank" rel="noreferrer" title={item.workflowId ?? undefined} onClick={(e) => e.stopPropagation()}>
                        body run ↗
                      </a>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                </tr>
                {open === item.index && (
                  <tr data-testid="map-item-detail">
                    <td colSpan={5}>
                      {item.error != null && <pre className="error-box wrap">{json(item.error)}</pre>}
                      {item.output != null && <pre>{json(item.output)}</pre>}
                    </td>
                  </tr>
                )}
              </Fragment>
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
