// What a run page says before anything is clicked: why a run failed, and which approvals wait.
import { useState } from 'react';
import type { ExecutionDetail, NodeView } from './api';
import { errorText, when } from './format';

interface RunError {
  type?: string;
  message?: string;
  nodeId?: string;
}

/**
 * A failed (or timed-out, or cancelled) run's error in full, naming the node it failed at
 * (from the run's error, else the first FAILED node) with a button that opens that node.
 */
export function ErrorBanner({ run, nodes, onShowNode }: { run: ExecutionDetail; nodes: Map<string, NodeView>; onShowNode: (nodeId: string) => void }) {
  if (run.status !== 'FAILED' && run.status !== 'TIMED_OUT' && run.status !== 'CANCELLED') return null;
  const error = (run.error ?? {}) as RunError;
  const failed = [...nodes.values()].find((n) => n.status === 'FAILED');
  const nodeId = error.nodeId ?? failed?.nodeId;
  const nodeError = (nodeId ? nodes.get(nodeId)?.error : undefined) as RunError | null | undefined;
  // The node's own message is the cause without the run's "node x failed:" prefix.
  const message = nodeError?.message ?? error.message ?? 'no error recorded';
  const type = nodeError?.type ?? error.type;
  const cancelled = run.status === 'CANCELLED';
  return (
    <div className={`banner ${cancelled ? 'cancelled' : 'failed'}`} role="alert" data-testid="error-banner">
      <div className="row">
        <strong>
          {run.status === 'TIMED_OUT' ? 'Run timed out' : cancelled ? 'Run cancelled' : 'Run failed'}
          {nodeId && !cancelled && (
            <>
              {' '}
              at node <span className="mono">{nodeId}</span>
            </>
          )}
        </strong>
        {type && <code className="error-type">{type}</code>}
        <span className="spacer" />
        {nodeId && <button onClick={() => onShowNode(nodeId)}>Show node</button>}
      </div>
      <pre className="banner-message" data-testid="error-message">
        {message}
      </pre>
    </div>
  );
}

/**
 * Every approval that waits, with its rendered message, deadline and the decision buttons, on
 * the run page itself: an approver should not have to find and click the node first.
 */
export function ApprovalBanner(props: { nodes: Map<string, NodeView>; types: Map<string, string>; running: boolean; now: number; onDecide: (nodeId: string, approved: boolean, data?: unknown) => Promise<void> }) {
  const waiting = [...props.nodes.values()].filter((n) => n.status === 'WAITING' && props.types.get(n.nodeId) === 'approval');
  if (!props.running || waiting.length === 0) return null;
  return (
    <>
      {waiting.map((n) => (
        <ApprovalRow key={n.nodeId} node={n} onDecide={props.onDecide} />
      ))}
    </>
  );
}

function ApprovalRow({ node, onDecide }: { node: NodeView; onDecide: (nodeId: string, approved: boolean, data?: unknown) => Promise<void> }) {
  const [data, setData] = useState('');
  const [problem, setProblem] = useState<string>();
  const decide = (approved: boolean) => {
    let parsed: unknown;
    try {
      parsed = data.trim() ? JSON.parse(data) : undefined;
    } catch (err) {
      return setProblem(`data is not JSON: ${errorText(err)}`);
    }
    setProblem(undefined);
    if (!approved && !window.confirm(`Reject "${node.nodeId}"? The run takes its error path (or fails).`)) return;
    void onDecide(node.nodeId, approved, parsed);
  };
  const prompt = node.approval;
  return (
    <div className="banner approval" data-testid="approval-banner">
      <div className="row">
        <strong>
          Approval <span className="mono">{node.nodeId}</span> is waiting
        </strong>
        {prompt?.deadline && (
          <span className="muted small">
            · {prompt.onTimeout === 'approve' ? 'approved' : 'rejected'} automatically {when(prompt.deadline)}
          </span>
        )}
      </div>
      {prompt?.message && <p className="prompt">{prompt.message}</p>}
      {prompt?.renderError && <p className="error small">message not rendered: {prompt.renderError}</p>}
      <div className="row">
        <input aria-label={`approval data for ${node.nodeId}`} className="grow" placeholder='optional data (JSON), e.g. {"note": "ok"}' value={data} onChange={(e) => setData(e.target.value)} />
        <button onClick={() => decide(true)}>Approve</button>
        <button className="danger" onClick={() => decide(false)}>
          Reject
        </button>
      </div>
      {problem && <p className="error small">{problem}</p>}
    </div>
  );
}

/**
 * A paused run: it starts nothing new until resumed; what ran on finishes, timers and approvals
 * keep waiting, its run timeout keeps counting (DESIGN.md §6).
 */
export function PausedBanner({ run }: { run: ExecutionDetail }) {
  if (!run.paused) return null;
  return (
    <div className="banner paused" role="status" data-testid="paused-banner">
      <strong>Paused</strong>
      {run.pausedBy && <> by {run.pausedBy}</>}
      {run.pausedAt && <> {when(run.pausedAt)}</>} — no new node, map item or loop iteration starts until it is resumed; what was running
      finishes, timers and approvals keep waiting, and its run timeout keeps counting.
    </div>
  );
}

/**
 * A run waiting for a slot of its definition's run-level `concurrency` key: nothing of it runs
 * yet, and its runTimeout is already counting (DESIGN.md §5). Cancelling it runs nothing.
 */
export function QueuedBanner({ run }: { run: ExecutionDetail }) {
  if (run.status !== 'QUEUED') return null;
  return (
    <div className="banner queued" role="status" data-testid="queued-banner">
      <strong>Queued</strong> — waiting for a slot of the workflow&apos;s concurrency key; no node runs until it gets one. Its run timeout is
      already counting; GET /limits lists the keys in use.
    </div>
  );
}
