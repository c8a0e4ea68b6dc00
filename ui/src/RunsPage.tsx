import { useEffect, useState } from 'react';
import { client, ok, EXECUTION_STATUSES, workflowNames, type ExecutionStatus } from './api';
import { duration, when } from './format';
import { useLoad } from './hooks';
import { Link, useQueryParam } from './router';
import { useCursorPages } from './Pager';

export function RunsPage() {
  return (
    <>
      <h1>Runs</h1>
      <RunsList />
    </>
  );
}

/** Status filter values: the run statuses, plus runs that wait on a human. */
const WAITING_APPROVAL = 'waiting-approval';

/**
 * Runs, newest first, filtered by workflow and status (both in the page's URL: `?status=FAILED`),
 * with cursor pagination; refreshed every few seconds.
 */
export function RunsList({ workflowId }: { workflowId?: string }) {
  const [status, setStatus] = useQueryParam('status');
  const [workflowParam, setWorkflow] = useQueryParam('workflow');
  const workflow = workflowId ?? workflowParam;
  const [names, setNames] = useState<Map<string, string>>(new Map());
  const { cursor, reset, pager } = useCursorPages();
  const query = {
    limit: 20,
    ...(workflow ? { workflowId: workflow } : {}),
    ...(status === WAITING_APPROVAL ? { waiting: 'approval' as const } : EXECUTION_STATUSES.includes(status as ExecutionStatus) ? { status: status as ExecutionStatus } : {}),
    ...(cursor ? { cursor } : {}),
  };
  const { data, error, reload } = useLoad(() => ok(client.GET('/executions', { params: { query } })), [JSON.stringify(query)]);
  useEffect(() => {
    const timer = setInterval(reload, 5000);
    return () => clearInterval(timer);
  }, [reload]);
  useEffect(() => {
    void workflowNames(true).then(setNames);
  }, []);
  const name = (id: string) => names.get(id) ?? id;

  return (
    <div className="runs">
      <div className="row">
        {!workflowId && (
          <label>
            workflow{' '}
            <select
              aria-label="workflow filter"
              value={workflow}
              onChange={(e) => {
                setWorkflow(e.target.value);
                reset();
              }}
            >
              <option value="">any</option>
              {[...names].map(([id, n]) => (
                <option key={id} value={id}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          status{' '}
          <select
            aria-label="status filter"
            value={status}
            onChange={(e) => {
              setStatus(e.target.value);
              reset();
            }}
          >
            <option value="">any</option>
            {EXECUTION_STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
            <option value={WAITING_APPROVAL}>waiting for approval</option>
          </select>
        </label>
        <button onClick={reload}>Refresh</button>
      </div>
      {error && <p className="error">{error}</p>}
      <table className="list">
        <thead>
          <tr>
            <th>Run</th>
            <th>Status</th>
            {!workflowId && <th>Workflow</th>}
            <th>Version</th>
            <th>Trigger</th>
            <th>Started</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((r) => (
            <tr key={r.id}>
              <td className="mono">
                <Link to={`/runs/${r.id}`}>{r.id}</Link>
              </td>
              <td>
                <span className={`badge ${r.status}`}>{r.status}</span>
                {r.paused && <span className="badge PAUSED">paused</span>}
              </td>
              {!workflowId && (
                <td>
                  <Link to={`/workflows/${r.workflowId}`}>{name(r.workflowId)}</Link>
                </td>
              )}
              <td>v{r.version}</td>
              <td>{r.trigger.toLowerCase()}</td>
              <td>{when(r.startedAt)}</td>
              <td>{duration(r.startedAt, r.finishedAt)}</td>
            </tr>
          ))}
          {data && data.items.length === 0 && (
            <tr>
              <td colSpan={7} className="muted">
                No runs{status === WAITING_APPROVAL ? ' waiting for approval' : status ? ` with status ${status}` : ''}.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {pager(data?.nextCursor)}
    </div>
  );
}
