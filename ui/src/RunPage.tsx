import { useEffect, useMemo, useRef, useState } from 'react';
import type { ItemCounts } from './MapProgress';
import {
  api,
  streamEvents,
  temporalRunUrl,
  uiConfig,
  workflowNames,
  type Definition,
  type ExecutionDetail,
  type ExecutionSummary,
  type NodeView,
  type RetryInfo,
  type ExecutionStatus,
  type UiConfig,
  type WorkflowVersion,
} from './api';
import { Dag } from './Dag';
import { duration, errorText, when } from './format';
import { Link, navigate } from './router';
import { Legend, NodePanel, RunPanel } from './NodePanel';

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
  const [workflowName, setWorkflowName] = useState<string>();
  const [itemCounts, setItemCounts] = useState<Map<string, ItemCounts>>(new Map());
  const status = useRef<ExecutionStatus | undefined>(undefined);
  status.current = run?.status;
  const runIdKnown = useRef(false);
  runIdKnown.current = Boolean(run?.temporalRunId);

  // The run, then its pinned definition (for edges and node config).
  useEffect(() => {
    let alive = true;
    void uiConfig().then(setConfig);
    // live=1: Temporal's run id (for the Web UI link) and what a retrying node is going through.
    api<ExecutionDetail>('GET', `/executions/${encodeURIComponent(id)}?live=1`).then(
      async (detail) => {
        if (!alive) return;
        setRun(detail);
        setNodes(new Map(detail.nodes.map((n) => [n.nodeId, n])));
        // A workflow made after the names were cached is not in them yet: ask again once.
        void workflowNames()
          .then((names) => (names.has(detail.workflowId) ? names : workflowNames(true)))
          .then((names) => alive && setWorkflowName(names.get(detail.workflowId)));
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
        for (const n of list) {
          const before = prev.get(n.nodeId);
          // Retry info holds only while the node is still in flight; approval prompts only while it waits.
          next.set(n.nodeId, {
            ...before,
            ...n,
            retry: TERMINAL_NODE.has(n.status) ? undefined : (n.retry ?? before?.retry),
            approval: n.status === 'WAITING' ? (n.approval ?? before?.approval) : undefined,
          });
        }
        return next;
      });
    const mergeRetry = (r: RetryInfo & { nodeId: string }) =>
      setNodes((prev) => {
        const before = prev.get(r.nodeId);
        if (!before || TERMINAL_NODE.has(before.status)) return prev;
        const { nodeId: _n, ...retry } = r;
        return new Map(prev).set(r.nodeId, { ...before, attempt: Math.max(before.attempt, retry.attempt), retry });
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
        else if (m.event === 'retry') mergeRetry(data as RetryInfo & { nodeId: string });
        else if (m.event === 'items') {
          const { nodeId, counts } = data as { nodeId: string; counts: ItemCounts };
          setItemCounts((prev) => new Map(prev).set(nodeId, counts));
        }
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

  // An approval that starts waiting: fetch its rendered message and deadline (the event stream carries rows only).
  const waitingWithoutPrompt = [...nodes.values()].filter((n) => n.status === 'WAITING' && !n.approval).map((n) => n.nodeId).join(',');
  useEffect(() => {
    if (!waitingWithoutPrompt) return;
    let alive = true;
    api<ExecutionDetail>('GET', `/executions/${encodeURIComponent(id)}`).then(
      (detail) =>
        alive &&
        setNodes((prev) => {
          const next = new Map(prev);
          for (const n of detail.nodes) if (n.approval && next.get(n.nodeId)?.status === 'WAITING') next.set(n.nodeId, { ...next.get(n.nodeId)!, approval: n.approval });
          return next;
        }),
      () => undefined,
    );
    return () => {
      alive = false;
    };
  }, [id, waitingWithoutPrompt]);

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
  const cancel = () => {
    if (!window.confirm(`Cancel run ${id}? Running nodes are cancelled and nothing further starts.`)) return;
    void act(() => api('POST', `/executions/${encodeURIComponent(id)}/cancel`, { reason: 'cancelled from the console' }), 'cancel requested');
  };
  const retry = () =>
    act(async () => {
      const next = await api<ExecutionSummary>('POST', `/executions/${encodeURIComponent(id)}/retry`);
      navigate(`/runs/${next.id}`);
    });
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
        {live && running && <span className="live">● live</span>}
        <span className="spacer" />
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
              executionId={id}
              itemCounts={itemCounts.get(selected)}
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
