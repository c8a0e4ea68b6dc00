import { useEffect, useState } from 'react';
import { client, ok } from './api';
import { errorText, when } from './format';
import { Link } from './router';

/** How often the page asks again: the counts change as runs and attempts come and go. */
const REFRESH_MS = 3_000;

type LimitItem = Awaited<ReturnType<typeof loadLimits>>['items'][number];

const loadLimits = () => ok(client.GET('/limits'));

const KIND_LABEL: Record<LimitItem['kind'], string> = { run: 'runs', concurrency: 'concurrency', rateLimit: 'rate limit' };

/**
 * The tenant's concurrency and rate-limit keys in use now (GET /limits, DESIGN §5): per key its
 * limit, what is in flight and what waits its turn. Refreshed every few seconds; a key whose
 * holders are all done drops off the list.
 */
export function LimitsPage() {
  const [items, setItems] = useState<LimitItem[]>();
  const [error, setError] = useState<string>();
  const [at, setAt] = useState<number>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const load = () =>
      loadLimits().then(
        (page) => {
          if (!live) return;
          setItems(page.items);
          setError(undefined);
          setAt(Date.now());
        },
        (err: unknown) => live && setError(errorText(err)),
      );
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [tick]);

  return (
    <>
      <h1>Limits</h1>
      <div className="row">
        <button onClick={() => setTick((t) => t + 1)}>Refresh</button>
        <span className="muted small" data-testid="limits-updated">
          {at ? `updated ${when(new Date(at).toISOString())} · every ${REFRESH_MS / 1000} s` : 'loading…'}
        </span>
      </div>
      {error && <p className="error">{error}</p>}
      <table className="list">
        <thead>
          <tr>
            <th>Scope</th>
            <th>Workflow</th>
            <th>Key</th>
            <th>Limit</th>
            <th>In flight</th>
            <th>Waiting</th>
          </tr>
        </thead>
        <tbody>
          {items?.map((l) => (
            <tr key={`${l.scope}/${l.kind}/${l.workflowId ?? ''}/${l.key}`} data-testid="limit-row" data-key={l.key}>
              <td>
                {l.scope} <span className="muted small">{KIND_LABEL[l.kind]}</span>
              </td>
              <td>{l.workflowId ? <Link to={`/workflows/${l.workflowId}`}>{l.workflowId}</Link> : <span className="muted">any</span>}</td>
              <td>
                <code>{l.key}</code>
              </td>
              <td data-testid="limit-limit">{l.limit}</td>
              <td data-testid="limit-in-flight">
                <span className={l.inFlight >= l.limit ? 'badge WAITING' : ''}>{l.inFlight}</span>
              </td>
              <td data-testid="limit-waiting">{l.waiting}</td>
            </tr>
          ))}
          {items && items.length === 0 && (
            <tr>
              <td colSpan={6} className="muted">
                No concurrency or rate-limit key is in use now.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </>
  );
}
