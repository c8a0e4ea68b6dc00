import { useEffect, useMemo, useRef, useState } from 'react';
import {
  api,
  streamEvents,
  uiConfig,
  type Definition,
  type DefinitionNode,
  type ExecutionDetail,
  type ExecutionSummary,
  type NodeView,
  type RunStatus,
  type UiConfig,
  type WorkflowVersion,
} from './api';
import { Dag } from './Dag';
import { duration, errorText, json, when } from './format';
import { Link, navigate } from './router';

const TERMINAL_NODE = new Set(['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED']);

type RunFields = Pick<ExecutionDetail, 'status' | 'output' | 'error' | 'finishedAt'>;

export function RunPage({ id }: { id: string }) {
  const [run, setRun] = useState<ExecutionDetail>();
  const [nodes, setNodes] = useState<Map<string, NodeView>>(new Map());
  const [definition, setDefinition] = useState<Definition>();
  const [error, setError] = useState<string>();
  const [live, setLive] = useState(false);
  const [selected, setSelected] = useState<string>();
  const [message, setMessage] = useState<string>();
  const [config, setConfig] = useState<UiConfig>();
  const [now, setNow] = useState(Date.now());
  const status = useRef<RunStatus | undefined>(undefined);
  status.current = run?.status;
  const runIdKnown = useRef(false);
  runIdKnown.current = Boolean(run?.temporalRunId);

  // The run, then its pinned definition (for edges and node config).
  useEffect(() => {
    let alive = true;
    void uiConfig().then(setConfig);
    api<ExecutionDetail>('GET', `/executions/${encodeURIComponent(id)}`).then(
      async (detail) => {
        if (!alive) return;
        setRun(detail);
        setNodes(new Map(detail.nodes.map((n) => [n.nodeId, n])));
        const v = await api<WorkflowVersion>('GET', `/workflows/${encodeURIComponent(detail.workflowId)}/versions/${detail.version}`);
        if (alive) setDefinition(v.definition);
      },
      (err: unknown) => alive && setError(errorText(err)),
    );
    return () => {
      alive = false;
    };
  }, [id]);

  // Live transitions from the SSE stream (snapshot, then node and run events).
  const loaded = run !== undefined;
  useEffect(() => {
    if (!loaded) return;
    setLive(true);
    let poll: ReturnType<typeof setInterval> | undefined;
    const mergeNodes = (list: NodeView[]) =>
      setNodes((prev) => {
        const next = new Map(prev);
        for (const n of list) next.set(n.nodeId, { ...prev.get(n.nodeId), ...n });
        return next;
      });
    const mergeRun = (fields: Partial<RunFields>) => setRun((prev) => (prev ? { ...prev, ...fields } : prev));
    // Temporal's run id is recorded by the run itself, usually after this page loaded; fetch it
    // once transitions show the run has recorded itself, for the Web UI link.
    let runIdAsked = false;
    const askRunId = () => {
      if (runIdAsked) return;
      runIdAsked = true;
      api<ExecutionDetail>('GET', `/executions/${encodeURIComponent(id)}`).then(
        (detail) => detail.temporalRunId && setRun((prev) => (prev && !prev.temporalRunId ? { ...prev, temporalRunId: detail.temporalRunId } : prev)),
        () => (runIdAsked = false),
      );
    };
    const stop = streamEvents(
      id,
      (m) => {
        const data = JSON.parse(m.data) as unknown;
        if (m.event === 'snapshot') {
          const snap = data as { run: RunFields; nodes: NodeView[] };
          mergeRun({ status: snap.run.status, output: snap.run.output, error: snap.run.error, finishedAt: snap.run.finishedAt });
          mergeNodes(snap.nodes);
        } else if (m.event === 'node') {
          mergeNodes([data as NodeView]);
          if (!runIdKnown.current) askRunId();
        }
        else if (m.event === 'run') mergeRun(data as RunFields);
        if ((m.event === 'run' || m.event === 'snapshot') && status.current !== undefined) setNow(Date.now());
      },
      () => status.current !== undefined && status.current !== 'RUNNING',
      () => {
        // No event stream on this server: poll the run instead.
        setLive(false);
        poll = setInterval(() => {
          if (status.current !== 'RUNNING') return clearInterval(poll);
          api<ExecutionDetail>('GET', `/executions/${encodeURIComponent(id)}`).then(
            (detail) => {
              mergeRun({ status: detail.status, output: detail.output, error: detail.error, finishedAt: detail.finishedAt });
              mergeNodes(detail.nodes);
            },
            () => undefined,
          );
        }, 2000);
      },
    );
    return () => {
      stop();
      clearInterval(poll);
      setLive(false);
    };
  }, [id, loaded]);

  const running = run?.status === 'RUNNING';
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);

  const progress = useMemo(() => {
    const total = definition?.nodes?.length ?? run?.progress.total ?? 0;
    const done = [...nodes.values()].filter((n) => TERMINAL_NODE.has(n.status)).length;
    return { total, done };
  }, [definition, nodes, run]);

  if (error) return <p className="error">{error}</p>;
  if (!run) return <p className="muted">loading…</p>;

  const act = async (what: () => Promise<unknown>, done?: string) => {
    setMessage(undefined);
    try {
      await what();
      if (done) setMessage(done);
    } catch (err) {
      setMessage(errorText(err));
    }
  };
  const cancel = () => act(() => api('POST', `/executions/${encodeURIComponent(id)}/cancel`, { reason: 'cancelled from the console' }), 'cancel requested');
  const retry = () =>
    act(async () => {
      const next = await api<ExecutionSummary>('POST', `/executions/${encodeURIComponent(id)}/retry`);
      navigate(`/runs/${next.id}`);
    });
  // The Web UI addresses a run by workflow id *and* run id; without the run id it answers 404.
  const runPath = run.temporalRunId ? `/${encodeURIComponent(run.temporalRunId)}/history` : '';
  const temporalUrl = config
    ? `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(run.id)}${runPath}`
    : undefined;
  const node = selected ? definition?.nodes?.find((n) => n.id === selected) : undefined;

  return (
    <>
      <p className="crumbs">
        <Link to="/runs">Runs</Link> / <span className="mono">{run.id}</span>
      </p>
      <div className="row run-head">
        <h1>
          Run <span className="mono">{run.id}</span>
        </h1>
        <span className={`badge ${run.status}`} data-testid="run-status">
          {run.status}
        </span>
        {live && running && <span className="live">● live</span>}
        <span className="spacer" />
        {running && (
          <button className="danger" onClick={() => void cancel()}>
            Cancel
          </button>
        )}
        {['FAILED', 'CANCELLED', 'TIMED_OUT'].includes(run.status) && <button onClick={() => void retry()}>Retry from failure</button>}
        {temporalUrl && (
          <a className="button" href={temporalUrl} target="_blank" rel="noreferrer">
            Temporal UI ↗
          </a>
        )}
      </div>
      <p className="meta">
        <Link to={`/workflows/${run.workflowId}`}>{run.workflowId}</Link> v{run.version} · {run.trigger.toLowerCase()} · started {when(run.startedAt)} ·{' '}
        {duration(run.startedAt, run.finishedAt, now)} · {progress.done}/{progress.total} nodes done
        {run.retryOf && (
          <>
            {' '}
            · retry of <Link to={`/runs/${run.retryOf}`}>{run.retryOf}</Link>
          </>
        )}
      </p>
      {message && <p className="notice">{message}</p>}

      <div className="columns">
        <section className="card grow">
          {definition ? <Dag definition={definition} nodes={nodes} selected={selected} onSelect={setSelected} now={now} /> : <p className="muted">loading graph…</p>}
          <Legend />
        </section>
        <aside className="side card node-panel">
          {selected ? (
            <NodePanel
              nodeId={selected}
              config={node}
              view={nodes.get(selected)}
              now={now}
              runStatus={run.status}
              onApprove={(approved, data) =>
                act(
                  () => api('POST', `/executions/${encodeURIComponent(id)}/nodes/${encodeURIComponent(selected)}/approve`, { approved, by: 'console', ...(data === undefined ? {} : { data }) }),
                  approved ? 'approval sent' : 'rejection sent',
                )
              }
            />
          ) : (
            <RunPanel run={run} />
          )}
        </aside>
      </div>
    </>
  );
}

function Legend() {
  return (
    <div className="legend">
      {['PENDING', 'RUNNING', 'WAITING', 'SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'].map((s) => (
        <span key={s} className={`badge ${s}`}>
          {s.toLowerCase()}
        </span>
      ))}
      <span className="muted">click a node for its config, output and error</span>
    </div>
  );
}

function RunPanel({ run }: { run: ExecutionDetail }) {
  return (
    <>
      <h2>Run</h2>
      <h3>Input</h3>
      <pre>{json(run.input) || '—'}</pre>
      {run.output != null && (
        <>
          <h3>Output</h3>
          <pre>{json(run.output)}</pre>
        </>
      )}
      {run.error != null && (
        <>
          <h3>Error</h3>
          <pre className="error-box">{json(run.error)}</pre>
        </>
      )}
    </>
  );
}

function NodePanel(props: {
  nodeId: string;
  config: DefinitionNode | undefined;
  view: NodeView | undefined;
  now: number;
  runStatus: RunStatus;
  onApprove: (approved: boolean, data?: unknown) => Promise<void>;
}) {
  const { nodeId, config, view, now, runStatus, onApprove } = props;
  const [data, setData] = useState('');
  const status = view?.status ?? 'PENDING';
  const { id: _id, type, ...rest } = config ?? { id: nodeId, type: view?.type ?? '?' };
  const approvable = type === 'approval' && status === 'WAITING' && runStatus === 'RUNNING';
  const decide = (approved: boolean) => {
    let parsed: unknown;
    try {
      parsed = data.trim() ? JSON.parse(data) : undefined;
    } catch {
      parsed = data;
    }
    void onApprove(approved, parsed);
  };
  return (
    <div data-testid="node-panel">
      <h2>
        <span className="mono">{nodeId}</span> <span className="muted small">{type}</span>
      </h2>
      <p>
        <span className={`badge ${status}`}>{status}</span> {view && view.attempt > 0 && <>attempt {view.attempt}</>}{' '}
        {view && duration(view.startedAt, view.finishedAt, now)}
      </p>
      {view?.startedAt && (
        <p className="muted small">
          started {when(view.startedAt)}
          {view.finishedAt && <> · finished {when(view.finishedAt)}</>}
        </p>
      )}
      {approvable && (
        <div className="approve">
          <textarea aria-label="approval data" className="small-area" placeholder='optional data (JSON), e.g. {"note": "ok"}' value={data} onChange={(e) => setData(e.target.value)} />
          <div className="row">
            <button onClick={() => decide(true)}>Approve</button>
            <button className="danger" onClick={() => decide(false)}>
              Reject
            </button>
          </div>
        </div>
      )}
      <h3>Config</h3>
      <pre>{json(rest)}</pre>
      {view?.output != null && (
        <>
          <h3>Output</h3>
          <pre>{json(view.output)}</pre>
        </>
      )}
      {view?.error != null && (
        <>
          <h3>Error</h3>
          <pre className="error-box">{json(view.error)}</pre>
        </>
      )}
    </div>
  );
}
