import { useState } from 'react';
import { api, type Page, type Schedule } from './api';
import { when } from './format';
import { useLoad } from './hooks';
import { Link } from './router';
import { useCursorPages } from './Pager';

/** Every schedule of the tenant (GET /schedules), newest first; each links to its workflow, where it is managed. */
export function SchedulesPage() {
  const [paused, setPaused] = useState('');
  const { cursor, reset, pager } = useCursorPages();
  const query = new URLSearchParams({ limit: '50' });
  if (paused) query.set('paused', paused);
  if (cursor) query.set('cursor', cursor);
  const { data, error } = useLoad(() => api<Page<Schedule>>('GET', `/schedules?${query.toString()}`), [query.toString()]);
  return (
    <>
      <h1>Schedules</h1>
      <div className="row">
        <label>
          state{' '}
          <select
            aria-label="schedule state filter"
            value={paused}
            onChange={(e) => {
              setPaused(e.target.value);
              reset();
            }}
          >
            <option value="">any</option>
            <option value="false">active</option>
            <option value="true">paused</option>
          </select>
        </label>
      </div>
      {error && <p className="error">{error}</p>}
      <table className="list">
        <thead>
          <tr>
            <th>Workflow</th>
            <th>Cron</th>
            <th>Time zone</th>
            <th>State</th>
            <th>Note</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((s) => (
            <tr key={s.id}>
              <td>
                <Link to={`/workflows/${s.workflowId}`}>{s.workflowName ?? s.workflowId}</Link>
              </td>
              <td>
                <code>{s.cron}</code>
              </td>
              <td>{s.timezone}</td>
              <td>
                <span className={`badge ${s.paused ? 'CANCELLED' : 'SUCCEEDED'}`}>{s.paused ? 'paused' : 'active'}</span>
              </td>
              <td className="muted">{s.note ?? ''}</td>
              <td>{when(s.createdAt)}</td>
            </tr>
          ))}
          {data && data.items.length === 0 && (
            <tr>
              <td colSpan={6} className="muted">
                No schedules: add one on a workflow's page.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {pager(data?.nextCursor)}
    </>
  );
}
