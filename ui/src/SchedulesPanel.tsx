import { useEffect, useState } from 'react';
import { client, ok, type Schedule, type ScheduleDetail } from './api';
import { errorText, json, when } from './format';
import { useLoad } from './hooks';
import { Link } from './router';

/** This browser's time zone first, then UTC and a few common ones; any IANA name can be typed too. */
function timezones(): string[] {
  const local = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return [...new Set([local, 'UTC', 'Europe/London', 'Europe/Paris', 'America/New_York', 'America/Los_Angeles', 'Asia/Tokyo'].filter(Boolean))];
}

/**
 * A workflow's schedules: cron in a time zone with an input, the next run times Temporal plans,
 * pause / resume (the note is kept), trigger now (linking the run it started) and delete.
 */
export function SchedulesPanel({ workflowId, defaultInput }: { workflowId: string; defaultInput: unknown }) {
  const { data, error, reload } = useLoad(
    async () => {
      const { items } = await ok(client.GET('/workflows/{id}/schedules', { params: { path: { id: workflowId } } }));
      // Next run times live in Temporal: one detail call per schedule (a workflow has a handful).
      return Promise.all(items.map((s) => ok(client.GET('/schedules/{id}', { params: { path: { id: s.id } } })).catch((): ScheduleDetail => s)));
    },
    [workflowId],
  );
  const [message, setMessage] = useState<{ text: string; runId?: string }>();
  const [cron, setCron] = useState('');
  const [timezone, setTimezone] = useState(timezones()[0]!);
  const [input, setInput] = useState('');
  useEffect(() => setInput(defaultInput === undefined ? '' : json(defaultInput)), [defaultInput]);

  const act = async (what: () => Promise<unknown>, done: string | ((result: unknown) => { text: string; runId?: string })) => {
    setMessage(undefined);
    try {
      const result = await what();
      setMessage(typeof done === 'string' ? { text: done } : done(result));
      reload();
    } catch (err) {
      setMessage({ text: errorText(err) });
    }
  };
  const create = () => {
    let parsed: unknown;
    try {
      parsed = input.trim() ? JSON.parse(input) : undefined;
    } catch (err) {
      return setMessage({ text: `input is not JSON: ${errorText(err)}` });
    }
    void act(
      () => ok(client.POST('/workflows/{id}/schedules', { params: { path: { id: workflowId } }, body: { cron: cron.trim(), timezone, ...(parsed === undefined ? {} : { input: parsed }) } })),
      'schedule created',
    ).then(() => setCron(''));
  };
  const remove = (s: Schedule) => {
    if (!window.confirm(`Delete the schedule "${s.cron}" (${s.timezone})? Runs it started are kept.`)) return;
    void act(() => ok(client.DELETE('/schedules/{id}', { params: { path: { id: s.id } } })), 'schedule deleted');
  };
  const trigger = (s: Schedule) =>
    void act(
      () => ok(client.POST('/schedules/{id}/trigger', { params: { path: { id: s.id } } })),
      (r) => {
        const runId = (r as { executionId: string | null }).executionId ?? undefined;
        return runId ? { text: 'triggered: ', runId } : { text: 'triggered: a run is starting' };
      },
    );

  return (
    <div className="card">
      <h2>Schedules</h2>
      {error && <p className="error">{error}</p>}
      {data?.length === 0 && <p className="muted">No schedules yet.</p>}
      <ul className="schedules">
        {data?.map((s) => (
          <li key={s.id} data-testid="schedule">
            <div>
              <code>{s.cron}</code> <span className="muted">{s.timezone}</span>{' '}
              <span className={`badge ${s.paused ? 'CANCELLED' : 'SUCCEEDED'}`}>{s.paused ? 'paused' : 'active'}</span>
            </div>
            {s.note && <div className="muted">note: {s.note}</div>}
            {s.input != null && <div className="muted small mono">input {JSON.stringify(s.input).slice(0, 80)}</div>}
            {s.info && s.info.nextActionTimes.length > 0 && (
              <div className="muted small" data-testid="next-runs">
                next: {s.info.nextActionTimes.slice(0, 3).map((t) => when(t)).join(' · ')}
              </div>
            )}
            <div className="muted mono small">{s.id}</div>
            <div className="row">
              <button
                onClick={() =>
                  void act(() => ok(client.PATCH('/schedules/{id}', { params: { path: { id: s.id } }, body: { paused: !s.paused } })), s.paused ? 'schedule resumed' : 'schedule paused')
                }
              >
                {s.paused ? 'Resume' : 'Pause'}
              </button>
              <button onClick={() => trigger(s)}>Trigger now</button>
              <button className="danger" onClick={() => remove(s)}>
                Delete
              </button>
            </div>
          </li>
        ))}
      </ul>
      <form
        className="schedule-form"
        onSubmit={(e) => {
          e.preventDefault();
          create();
        }}
      >
        <input aria-label="cron" value={cron} onChange={(e) => setCron(e.target.value)} placeholder="cron, e.g. 0 9 * * MON-FRI" />
        <input aria-label="timezone" list="timezones" value={timezone} onChange={(e) => setTimezone(e.target.value)} />
        <datalist id="timezones">
          {timezones().map((tz) => (
            <option key={tz} value={tz} />
          ))}
        </datalist>
        <textarea aria-label="schedule input" className="small-area" spellCheck={false} value={input} onChange={(e) => setInput(e.target.value)} placeholder="input of every run (JSON, optional)" />
        <button type="submit" disabled={!cron.trim()}>
          Add schedule
        </button>
      </form>
      {message && (
        <p className="muted">
          {message.text}
          {message.runId && <Link to={`/runs/${message.runId}`}>{message.runId}</Link>}
        </p>
      )}
    </div>
  );
}
