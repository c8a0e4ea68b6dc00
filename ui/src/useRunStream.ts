import { useEffect, useRef, useState, type Dispatch, type SetStateAction } from 'react';
import type { ItemCounts } from './MapProgress';
import { client, isOpenExecution, ok, streamEvents, workflowNames, type Definition, type ExecutionDetail, type ExecutionStatus, type NodeView } from './api';
import { errorText } from './format';
import { parseRunEvent, type RunEventOf, type StreamNode } from './run-events';

export const TERMINAL_NODE = new Set(['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED']);

type RunFields = Pick<ExecutionDetail, 'status' | 'output' | 'error' | 'finishedAt' | 'paused' | 'pausedAt' | 'pausedBy'>;
/** A node's row from the stream, or from GET /executions/:id with what only that read carries. */
type NodeUpdate = StreamNode & Partial<Pick<NodeView, 'failedAttempts' | 'retry' | 'reused'>>;

/** What the run page shows of one run, kept current by its event stream. */
export interface RunStream {
  run: ExecutionDetail | undefined;
  nodes: Map<string, NodeView>;
  setNodes: Dispatch<SetStateAction<Map<string, NodeView>>>;
  /** The run's pinned definition (edges, node config). */
  definition: Definition | undefined;
  workflowName: string | undefined;
  itemCounts: Map<string, ItemCounts>;
  /** Whether the event stream is on (false: this server has none, and the run is polled). */
  live: boolean;
  /** A clock that ticks every second while the run runs (durations grow). */
  now: number;
  error: string | undefined;
}

const detail = (id: string, live = false) => ok(client.GET('/executions/{id}', { params: { path: { id }, query: live ? { live: '1' } : {} } }));

/**
 * One run, live: the run (with ?live=1 for Temporal's run id and retry state), its pinned
 * definition, then GET /executions/:id/events (snapshot, node, run, retry and items events)
 * merged over it; polling instead where the server has no event stream. Approval prompts and
 * failed-attempt histories, which the stream's rows do not carry, are fetched when they change.
 */
export function useRunStream(id: string): RunStream {
  const [run, setRun] = useState<ExecutionDetail>();
  const [nodes, setNodes] = useState<Map<string, NodeView>>(new Map());
  const [definition, setDefinition] = useState<Definition>();
  const [error, setError] = useState<string>();
  const [live, setLive] = useState(false);
  const [now, setNow] = useState(Date.now());
  const [workflowName, setWorkflowName] = useState<string>();
  const [itemCounts, setItemCounts] = useState<Map<string, ItemCounts>>(new Map());
  const status = useRef<ExecutionStatus | undefined>(undefined);
  status.current = run?.status;
  const runIdKnown = useRef(false);
  runIdKnown.current = Boolean(run?.temporalRunId);

  useEffect(() => {
    let alive = true;
    detail(id, true).then(
      async (d) => {
        if (!alive) return;
        setRun(d);
        setNodes(new Map(d.nodes.map((n) => [n.nodeId, n])));
        // A workflow made after the names were cached is not in them yet: ask again once.
        void workflowNames()
          .then((names) => (names.has(d.workflowId) ? names : workflowNames(true)))
          .then((names) => alive && setWorkflowName(names.get(d.workflowId)));
        const v = await ok(client.GET('/workflows/{id}/versions/{version}', { params: { path: { id: d.workflowId, version: d.version } } }));
        if (alive) setDefinition(v.definition as Definition);
      },
      (err: unknown) => alive && setError(errorText(err)),
    );
    return () => {
      alive = false;
    };
  }, [id]);

  const loaded = run !== undefined;
  useEffect(() => {
    if (!loaded) return;
    setLive(true);
    let poll: ReturnType<typeof setInterval> | undefined;
    let attemptsTimer: ReturnType<typeof setTimeout> | undefined;
    const mergeNodes = (list: NodeUpdate[]) =>
      setNodes((prev) => {
        const next = new Map(prev);
        for (const n of list) {
          const before = prev.get(n.nodeId);
          // Retry info holds only while the node is still in flight; approval prompts only while it waits.
          next.set(n.nodeId, {
            ...before,
            ...n,
            reused: n.reused ?? before?.reused ?? false,
            failedAttempts: n.failedAttempts ?? before?.failedAttempts ?? [],
            retry: TERMINAL_NODE.has(n.status) ? undefined : (n.retry ?? before?.retry),
            approval: n.status === 'WAITING' ? (n.approval ?? before?.approval) : undefined,
          });
        }
        return next;
      });
    // Failed attempts are written by workers, not carried by the stream: read them again (at most once a second) when a node retried.
    const refreshAttempts = () => {
      if (attemptsTimer) return;
      attemptsTimer = setTimeout(() => {
        attemptsTimer = undefined;
        detail(id).then(
          (d) =>
            setNodes((prev) => {
              const next = new Map(prev);
              for (const n of d.nodes) {
                const before = next.get(n.nodeId);
                if (before) next.set(n.nodeId, { ...before, failedAttempts: n.failedAttempts });
              }
              return next;
            }),
          () => undefined,
        );
      }, 1000);
    };
    const mergeRetry = (r: RunEventOf<'retry'>['data']) => {
      if (r.attempt > 1 || r.lastFailure) refreshAttempts();
      setNodes((prev) => {
        const before = prev.get(r.nodeId);
        if (!before || TERMINAL_NODE.has(before.status)) return prev;
        const { nodeId: _n, waitingFor, ...retry } = r;
        const next: NodeView = { ...before, attempt: Math.max(before.attempt, retry.attempt), retry };
        // An attempt waiting at its worker for its tenant's share (the workflow sees it running).
        if (waitingFor && before.status === 'RUNNING') Object.assign(next, { status: 'WAITING', waitingFor });
        else if (waitingFor === null && before.status === 'WAITING' && before.waitingFor?.kind === 'tenantShare') Object.assign(next, { status: 'RUNNING', waitingFor: undefined });
        return new Map(prev).set(r.nodeId, next);
      });
    };
    const mergeRun = (fields: Partial<RunFields>) => setRun((prev) => (prev ? { ...prev, ...fields } : prev));
    // Temporal's run id is recorded by the run itself, usually after this page loaded; fetch it
    // once transitions show the run has recorded itself, for the Web UI link.
    let runIdAsked = false;
    const askRunId = () => {
      if (runIdAsked) return;
      runIdAsked = true;
      detail(id).then(
        (d) => d.temporalRunId && setRun((prev) => (prev && !prev.temporalRunId ? { ...prev, temporalRunId: d.temporalRunId } : prev)),
        () => (runIdAsked = false),
      );
    };
    const stop = streamEvents(
      id,
      (m) => {
        const e = parseRunEvent(m);
        if (!e) return;
        if (e.event === 'snapshot') {
          const { run: r, nodes: list } = e.data;
          const { status, output, error, finishedAt, paused, pausedAt, pausedBy } = r;
          mergeRun({ status, output, error, finishedAt, paused, pausedAt, pausedBy });
          mergeNodes(list);
        } else if (e.event === 'node') {
          const n = e.data;
          mergeNodes([n]);
          if (TERMINAL_NODE.has(n.status) && n.attempt > 1) refreshAttempts();
          if (!runIdKnown.current) askRunId();
        } else if (e.event === 'run') mergeRun(e.data);
        else if (e.event === 'retry') mergeRetry(e.data);
        else {
          const { nodeId, counts } = e.data;
          setItemCounts((prev) => new Map(prev).set(nodeId, counts));
        }
        if ((e.event === 'run' || e.event === 'snapshot') && status.current !== undefined) setNow(Date.now());
      },
      () => status.current !== undefined && !isOpenExecution(status.current),
      () => {
        // No event stream on this server: poll the run instead.
        setLive(false);
        poll = setInterval(() => {
          if (status.current === undefined || !isOpenExecution(status.current)) return clearInterval(poll);
          detail(id).then(
            (d) => {
              mergeRun({ status: d.status, output: d.output, error: d.error, finishedAt: d.finishedAt, paused: d.paused, pausedAt: d.pausedAt, pausedBy: d.pausedBy });
              mergeNodes(d.nodes);
            },
            () => undefined,
          );
        }, 2000);
      },
    );
    return () => {
      stop();
      clearInterval(poll);
      clearTimeout(attemptsTimer);
      setLive(false);
    };
  }, [id, loaded]);

  // An approval that starts waiting: fetch its rendered message and deadline (the event stream carries rows only).
  const waitingWithoutPrompt = [...nodes.values()].filter((n) => n.status === 'WAITING' && !n.approval).map((n) => n.nodeId).join(',');
  useEffect(() => {
    if (!waitingWithoutPrompt) return;
    let alive = true;
    detail(id).then(
      (d) =>
        alive &&
        setNodes((prev) => {
          const next = new Map(prev);
          for (const n of d.nodes) if (n.approval && next.get(n.nodeId)?.status === 'WAITING') next.set(n.nodeId, { ...next.get(n.nodeId)!, approval: n.approval });
          return next;
        }),
      () => undefined,
    );
    return () => {
      alive = false;
    };
  }, [id, waitingWithoutPrompt]);

  const running = run !== undefined && isOpenExecution(run.status);
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);

  return { run, nodes, setNodes, definition, workflowName, itemCounts, live, now, error };
}
