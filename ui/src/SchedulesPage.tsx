import { useState } from 'react';
import { client, ok, type ScheduleDetail } from './api';
import { errorText, when } from './format';
import { useLoad } from './hooks';
import { Link, useQueryParam } from './router';
import { useCursorPages } from './Pager';

/** A schedule's row: the list's fields plus Temporal's plan (next runs, recent starts) and its workflow's name. */
type ScheduleRow = ScheduleDetail & { workflowName?: string };

/**
 * Every schedule of the tenant (GET /schedules), newest first, filtered by state (in the URL:
 * `?state=paused`): when it runs next, when it last ran (linking that run), and pause / resume,
 * trigger now and delete.
 */
export function SchedulesPage() {
  const [state, setState] = useQueryParam('state');
  const { cursor, reset, pager } = useCursorPages();
  const [message, setMessage] = useState<{ text: string; runId?: string }>();
  const query = { limit: 20, ...(state === 'paused' || state === 'active' ? { paused: state === 'paused' } : {}), ...(cursor ? { cursor } : {}) };
  const { data, error, reload } = useLoad(async () => {
    const page = await ok(client.GET('/schedules', { params: { query } }));
    // Next and last runs live in Temporal: one detail call per schedule of the page.
    const items = await Promise.all(
      page.items.map((s): Promise<ScheduleRow> =>
        ok(client.GET('/schedules/{id}', { params: { path: { id: s.id } } })).then(
          (detail) => ({ ...detail, workflowName: s.workflowName }),
          () => s,
        ),
      ),
    );
    return { items, nextCursor: page.nextCursor };
  }, [JSON.stringify(query)]);

  const act = async (what: () => Promise<unknown>, done: (result: unknown) => { text: string; runId?: string }) => {
    setMessage(undefined);
    try {
      setMessage(done(await what()));
      reload();
    } catch (err) {
      setMessage({ text: errorText(err) });
    }
  };
  const path = (s: ScheduleRow) => ({ params: { path: { id: s.id } } });
  const togglePause = (s: ScheduleRow) =>
    void act(() => ok(client.PATCH('/schedules/{id}', { ...path(s), body: { paused: !s.paused } })), () => ({ text: s.paused ? 'schedule resumed' : 'schedule paused' }));
  const trigger = (s: ScheduleRow) =>
    void act(
      () => ok(client.POST('/schedules/{id}/trigger', path(s))),
      (r) => {
        const runId = (r as { executionId: string | null }).executionId ?? undefined;
        return runId ? { text: 'triggered: ', runId } : { text: 'triggered: a run is starting' };
      },
    );
  const remove = (s: ScheduleRow) => {
    if (!window.confirm(`Delete the schedule "${s.cron}" (${s.timezone})? Runs it started are kept.`)) return;
    void act(() => ok(client.DELETE('/schedules/{id}', path(s))), () => ({ text: 'schedule deleted' }));
  };

  return (
    <>
      <h1>Schedules</h1>
      <div className="row">
        <label>
          state{' '}
          <select
            aria-label="schedule state filter"
            value={state}
            onChange={(e) => {
              setState(e.target.value);
              reset();
            }}
          >
            <option value="">any</option>
            <option value="active">active</option>
            <option value="paused">paused</option>
          </select>
        </label>
        <button onClick={reload}>Refresh</button>
      </div>
      {error && <p className="error">{error}</p>}
      {message && (
        <p className="notice" data-testid="schedule-message">
          {message.text}
          {message.runId && <Link to={`/runs/${message.runId}`}>{message.runId}</Link>}
        </p>
      )}
      <table className="list">
        <thead>
          <tr>
            <th>Workflow</th>
            <th>Cron</th>
            <th>State</th>
            <th>Next run</th>
            <th>Last run</th>
            <th>Note</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.items.map((s) => {
            const last = s.info?.recentActions.at(-1);
            const next = s.info?.nextActionTimes[0];
            return (
              <tr key={s.id} data-testid="schedule-row">
                <td>
                  <Link to={`/workflows/${s.workflowId}`}>{s.workflowName ?? s.workflowId}</Link>
                </td>
                <td>
                  <code>{s.cron}</code> <span className="muted small">{s.timezone}</span>
                </td>
                <td>
                  <span className={`badge ${s.paused ? 'CANCELLED' : 'SUCCEEDED'}`}>{s.paused ? 'paused' : 'active'}</span>
                </td>
                <td data-testid="schedule-next">{s.paused ? <span className="muted">paused</span> : next ? when(next) : <span className="muted">—</span>}</td>
                <td data-testid="schedule-last">
                  {last ? (
                    <>
                      {when(last.scheduledAt)} · <Link to={`/runs/${last.executionId}`}>run</Link>
                    </>
                  ) : (
                    <span className="muted">never</span>
                  )}
                </td>
                <td className="muted">{s.note ?? ''}</td>
                <td className="actions">
                  <button onClick={() => togglePause(s)}>{s.paused ? 'Resume' : 'Pause'}</button> <button onClick={() => trigger(s)}>Trigger</button>{' '}
                  <button className="danger" onClick={() => remove(s)}>
                    Delete
                  </button>
                </td>
              </tr>
            );
          })}
          {data && data.items.length === 0 && (
            <tr>
              <td colSpan={7} className="muted">
                No schedules{state ? ` ${state}` : ''}: add one on a workflow's page.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {pager(data?.nextCursor)}
    </>
  );
}
