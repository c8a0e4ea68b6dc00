import { useCallback, useEffect, useState } from 'react';
import { api, ApiError, type ErrorDetail, type ExecutionSummary, type Schedule, type WorkflowDetail, type WorkflowVersion } from './api';
import { DefinitionEditor } from './DefinitionEditor';
import { errorText, json, when } from './format';
import { useLoad } from './hooks';
import { Link, navigate } from './router';
import { RunsList } from './RunsPage';

export function WorkflowPage({ id }: { id: string }) {
  const { data: workflow, error, reload } = useLoad(() => api<WorkflowDetail>('GET', `/workflows/${encodeURIComponent(id)}`), [id]);
  const [version, setVersion] = useState<number>();
  const [text, setText] = useState('');
  const [valid, setValid] = useState(false);
  const [saveErrors, setSaveErrors] = useState<ErrorDetail[]>();
  const [message, setMessage] = useState<string>();

  // The latest version on load (and after a save); another version when picked.
  useEffect(() => {
    if (!workflow) return;
    setVersion(workflow.version);
    setText(json(workflow.definition));
  }, [workflow]);

  const pick = async (v: number) => {
    setVersion(v);
    setSaveErrors(undefined);
    const one = await api<WorkflowVersion>('GET', `/workflows/${encodeURIComponent(id)}/versions/${v}`);
    setText(json(one.definition));
  };

  const save = async () => {
    setMessage(undefined);
    setSaveErrors(undefined);
    try {
      const saved = await api<WorkflowDetail>('PUT', `/workflows/${encodeURIComponent(id)}`, { definition: JSON.parse(text) as unknown });
      setMessage(`saved as version ${saved.version}`);
      reload();
    } catch (err) {
      if (err instanceof ApiError && Array.isArray(err.details)) setSaveErrors(err.details as ErrorDetail[]);
      setMessage(errorText(err));
    }
  };
  const onValidity = useCallback((v: boolean) => setValid(v), []);

  if (error) return <p className="error">{error}</p>;
  if (!workflow) return <p className="muted">loading…</p>;
  const latest = workflow.version;
  return (
    <>
      <p className="crumbs">
        <Link to="/">Workflows</Link> / {workflow.name}
      </p>
      <h1>
        {workflow.name} <span className="muted mono small">{workflow.id}</span>
        {workflow.archived && <span className="badge CANCELLED">archived</span>}
      </h1>
      {workflow.description && <p>{workflow.description}</p>}

      <div className="columns">
        <section className="card grow">
          <div className="row">
            <h2>Definition</h2>
            <label>
              version{' '}
              <select aria-label="version" value={version ?? latest} onChange={(e) => void pick(Number(e.target.value))}>
                {Array.from({ length: latest }, (_, k) => latest - k).map((v) => (
                  <option key={v} value={v}>
                    v{v}
                    {v === latest ? ' (latest)' : ''}
                  </option>
                ))}
              </select>
            </label>
            <span className="spacer" />
            <button onClick={() => void save()} disabled={!valid}>
              Save as new version
            </button>
          </div>
          <DefinitionEditor text={text} onChange={setText} onValidity={onValidity} extraErrors={saveErrors} />
          {message && <p className="muted">{message}</p>}
        </section>
        <aside className="side">
          <StartRun workflowId={workflow.id} disabled={workflow.archived} />
          <Schedules workflowId={workflow.id} />
        </aside>
      </div>

      <section>
        <h2>Runs</h2>
        <RunsList workflowId={workflow.id} />
      </section>
    </>
  );
}

function StartRun({ workflowId, disabled }: { workflowId: string; disabled: boolean }) {
  const [input, setInput] = useState('{\n  "who": "world"\n}');
  const [error, setError] = useState<string>();
  const start = async () => {
    setError(undefined);
    let parsed: unknown;
    try {
      parsed = input.trim() ? JSON.parse(input) : undefined;
    } catch (err) {
      return setError(`input is not JSON: ${errorText(err)}`);
    }
    try {
      const run = await api<ExecutionSummary>('POST', '/executions', { workflowId, ...(parsed === undefined ? {} : { input: parsed }) });
      navigate(`/runs/${run.id}`);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <div className="card">
      <h2>Start a run</h2>
      <textarea aria-label="run input" className="small-area" spellCheck={false} value={input} onChange={(e) => setInput(e.target.value)} />
      <button onClick={() => void start()} disabled={disabled}>
        Start run
      </button>
      {error && <p className="error">{error}</p>}
    </div>
  );
}

function Schedules({ workflowId }: { workflowId: string }) {
  const { data, error, reload } = useLoad(
    () => api<{ items: Schedule[] }>('GET', `/workflows/${encodeURIComponent(workflowId)}/schedules`),
    [workflowId],
  );
  const [message, setMessage] = useState<string>();
  const [cron, setCron] = useState('');
  const act = async (what: () => Promise<unknown>, done: string) => {
    setMessage(undefined);
    try {
      await what();
      setMessage(done);
      reload();
    } catch (err) {
      setMessage(errorText(err));
    }
  };
  return (
    <div className="card">
      <h2>Schedules</h2>
      {error && <p className="error">{error}</p>}
      {data?.items.length === 0 && <p className="muted">No schedules yet.</p>}
      <ul className="schedules">
        {data?.items.map((s) => (
          <li key={s.id}>
            <div>
              <code>{s.cron}</code> <span className="muted">{s.timezone}</span>{' '}
              <span className={`badge ${s.paused ? 'CANCELLED' : 'SUCCEEDED'}`}>{s.paused ? 'paused' : 'active'}</span>
            </div>
            {s.note && <div className="muted">{s.note}</div>}
            <div className="muted mono small">
              {s.id} · updated {when(s.updatedAt)}
            </div>
            <div className="row">
              <button
                onClick={() =>
                  void act(
                    () => api('PATCH', `/schedules/${encodeURIComponent(s.id)}`, { paused: !s.paused, note: `${s.paused ? 'resumed' : 'paused'} from the console` }),
                    s.paused ? 'schedule resumed' : 'schedule paused',
                  )
                }
              >
                {s.paused ? 'Unpause' : 'Pause'}
              </button>
              <button onClick={() => void act(() => api('POST', `/schedules/${encodeURIComponent(s.id)}/trigger`), 'triggered: a run is starting')}>
                Trigger now
              </button>
            </div>
          </li>
        ))}
      </ul>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void act(() => api('POST', `/workflows/${encodeURIComponent(workflowId)}/schedules`, { cron: cron.trim() }), 'schedule created').then(() => setCron(''));
        }}
      >
        <input aria-label="cron" className="grow" value={cron} onChange={(e) => setCron(e.target.value)} placeholder="cron, e.g. 0 9 * * MON-FRI (UTC)" />
        <button type="submit" disabled={!cron.trim()}>
          Add schedule
        </button>
      </form>
      {message && <p className="muted">{message}</p>}
    </div>
  );
}
