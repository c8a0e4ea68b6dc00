import { useEffect, useMemo, useState } from 'react';
import { client, isOpenExecution, ok, temporalRunUrl, uiConfig, type UiConfig } from './api';
import { Dag } from './Dag';
import { duration, errorText, when } from './format';
import { Link, navigate } from './router';
import { Legend, NodePanel, RunPanel } from './NodePanel';
import { ApprovalBanner, ErrorBanner, PausedBanner, QueuedBanner } from './RunBanners';
import { Timeline } from './Timeline';
import { TERMINAL_NODE, useRunStream } from './useRunStream';

export function RunPage({ id }: { id: string }) {
  const { run, nodes, definition, workflowName, itemCounts, live, now, error } = useRunStream(id);
  const [selected, setSelected] = useState<string>();
  const [message, setMessage] = useState<string>();
  const [config, setConfig] = useState<UiConfig>();
  const [view, setView] = useState<'graph' | 'timeline'>('graph');
  useEffect(() => void uiConfig().then(setConfig), []);

  const progress = useMemo(() => {
    const total = definition?.nodes?.length ?? run?.progress.total ?? 0;
    const done = [...nodes.values()].filter((n) => TERMINAL_NODE.has(n.status)).length;
    return { total, done };
  }, [definition, nodes, run]);
  const types = useMemo(() => new Map([...nodes.values()].map((n) => [n.nodeId, n.type])), [nodes]);

  if (error) return <p className="error">{error}</p>;
  if (!run) return <p className="muted">loading…</p>;

  const path = { params: { path: { id } } };
  const act = async (what: () => Promise<unknown>, done?: string) => {
    setMessage(undefined);
    try {
      await what();
      if (done) setMessage(done);
    } catch (err) {
      setMessage(errorText(err));
    }
  };
  const cancel = () => {
    if (!window.confirm(`Cancel run ${id}? Running nodes are cancelled and nothing further starts.`)) return;
    void act(() => ok(client.POST('/executions/{id}/cancel', { ...path, body: { reason: 'cancelled from the console' } })), 'cancel requested');
  };
  const setPaused = (paused: boolean) =>
    act(
      () => ok(client.POST(paused ? '/executions/{id}/pause' : '/executions/{id}/resume', path)),
      paused ? 'pause requested: nothing new starts' : 'resume requested',
    );
  const retry = () =>
    act(async () => {
      const next = await ok(client.POST('/executions/{id}/retry', path));
      navigate(`/runs/${next.id}`);
    });
  const approve = (nodeId: string, approved: boolean, data?: unknown) =>
    act(
      () => ok(client.POST('/executions/{id}/nodes/{nodeId}/approve', { params: { path: { id, nodeId } }, body: { approved, ...(data === undefined ? {} : { data }) } })),
      approved ? 'approval sent' : 'rejection sent',
    );
  // A queued run is open too: it can be cancelled, and its stream goes on.
  const running = isOpenExecution(run.status);
  const temporalUrl = config ? temporalRunUrl(config, run.id, run.temporalRunId) : undefined;
  // Retrying re-runs what failed and reuses what succeeded: it means something only after a failure.
  const retryable = run.status === 'FAILED' || run.status === 'TIMED_OUT';
  const node = selected ? definition?.nodes?.find((n) => n.id === selected) : undefined;

  return (
    <>
      <p className="crumbs">
        <Link to="/runs">Runs</Link> / <Link to={`/workflows/${run.workflowId}`}>{workflowName ?? run.workflowId}</Link> / <span className="mono">{run.id}</span>
      </p>
      <div className="row run-head">
        <h1>
          Run <span className="mono">{run.id}</span>
        </h1>
        <span className={`badge ${run.status}`} data-testid="run-status">
          {run.status}
        </span>
        {running && run.paused && (
          <span className="badge PAUSED" data-testid="run-paused">
            paused
          </span>
        )}
        {live && running && <span className="live">● live</span>}
        <span className="spacer" />
        {running && (run.paused ? <button onClick={() => void setPaused(false)}>Resume</button> : <button onClick={() => void setPaused(true)}>Pause</button>)}
        {running && (
          <button className="danger" onClick={cancel}>
            Cancel
          </button>
        )}
        {retryable && <button onClick={() => void retry()}>Retry from failure</button>}
        {temporalUrl && (
          <a className="button" href={temporalUrl} target="_blank" rel="noreferrer">
            Temporal UI ↗
          </a>
        )}
      </div>
      <p className="meta">
        <Link to={`/workflows/${run.workflowId}`}>{workflowName ?? run.workflowId}</Link> v{run.version} · {run.trigger.toLowerCase()} · started {when(run.startedAt)} ·{' '}
        {duration(run.startedAt, run.finishedAt, now)} · {progress.done}/{progress.total} nodes done
        {run.retryOf && (
          <>
            {' '}
            · retry of <Link to={`/runs/${run.retryOf}`}>{run.retryOf}</Link>
          </>
        )}
      </p>
      <QueuedBanner run={run} />
      <PausedBanner run={run} />
      <ErrorBanner run={run} nodes={nodes} onShowNode={setSelected} />
      <ApprovalBanner nodes={nodes} types={types} running={running} now={now} onDecide={approve} />
      {message && <p className="notice">{message}</p>}

      <div className="columns">
        <section className="card grow">
          <div className="row tabs" role="tablist">
            <button role="tab" aria-selected={view === 'graph'} className={view === 'graph' ? 'active' : ''} onClick={() => setView('graph')}>
              Graph
            </button>
            <button role="tab" aria-selected={view === 'timeline'} className={view === 'timeline' ? 'active' : ''} onClick={() => setView('timeline')}>
              Timeline
            </button>
          </div>
          {view === 'timeline' ? (
            <Timeline runStartedAt={run.startedAt} runFinishedAt={run.finishedAt} nodes={nodes} order={definition?.nodes} now={now} onSelect={setSelected} selected={selected} />
          ) : definition ? (
            <>
              <Dag definition={definition} nodes={nodes} selected={selected} onSelect={setSelected} now={now} />
              <Legend />
            </>
          ) : (
            <p className="muted">loading graph…</p>
          )}
        </section>
        <aside className="side card node-panel">
          {selected ? (
            <NodePanel
              nodeId={selected}
              config={node}
              view={nodes.get(selected)}
              now={now}
              runStatus={run.status}
              executionId={id}
              itemCounts={itemCounts.get(selected)}
              onApprove={(approved, data) => approve(selected, approved, data)}
            />
          ) : (
            <RunPanel run={run} />
          )}
        </aside>
      </div>
    </>
  );
}
