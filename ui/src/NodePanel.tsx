// The run page's side panels: the run's input and result, or one node's state, config and actions.
import { useState } from 'react';
import type { DefinitionNode, ExecutionDetail, NodeView, RetryInfo, ExecutionStatus } from './api';
import { duration, errorText, json, when } from './format';
import { MapItemList } from './MapItems';
import { RerunForm } from './RerunForm';
import { isTerminalExecution } from '../../src/domain/status';
import { MapProgress, type ItemCounts } from './MapProgress';

export function Legend() {
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

export function RunPanel({ run }: { run: ExecutionDetail }) {
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
          <ErrorText error={run.error} />
        </>
      )}
    </>
  );
}

export function NodePanel(props: {
  nodeId: string;
  config: DefinitionNode | undefined;
  view: NodeView | undefined;
  now: number;
  runStatus: ExecutionStatus;
  executionId: string;
  itemCounts?: ItemCounts;
  onApprove: (approved: boolean, data?: unknown) => Promise<void>;
}) {
  const { nodeId, config, view, now, runStatus, onApprove } = props;
  const [data, setData] = useState('');
  const [dataError, setDataError] = useState<string>();
  const status = view?.status ?? 'PENDING';
  const { id: _id, type, ...rest } = config ?? { id: nodeId, type: view?.type ?? '?' };
  const approvable = type === 'approval' && status === 'WAITING' && runStatus === 'RUNNING';
  const decide = (approved: boolean) => {
    let parsed: unknown;
    try {
      parsed = data.trim() ? JSON.parse(data) : undefined;
    } catch (err) {
      // Sent as typed it would be stored as a string; say so instead.
      return setDataError(`data is not JSON: ${errorText(err)}`);
    }
    setDataError(undefined);
    if (!approved && !window.confirm(`Reject "${nodeId}"? The run takes its error path (or fails).`)) return;
    void onApprove(approved, parsed);
  };
  return (
    <div data-testid="node-panel">
      <h2>
        <span className="mono">{nodeId}</span> <span className="muted small">{type}</span>
      </h2>
      <p>
        <span className={`badge ${status}`}>{status}</span> {view && view.attempt > 0 && <>attempt {view.attempt}</>}{' '}
        {view?.reused && <span className="badge reused" data-testid="node-reused" title="Kept from the earlier run (retry or rerun): not run again">reused</span>}{' '}
        {view && duration(view.startedAt, view.finishedAt, now)}
      </p>
      {view?.startedAt && (
        <p className="muted small">
          started {when(view.startedAt)}
          {view.finishedAt && <> · finished {when(view.finishedAt)}</>}
        </p>
      )}
      {view?.status === 'WAITING' && view.waitingFor && <WaitingForNote waitingFor={view.waitingFor} />}
      {view?.retry && <RetryNote retry={view.retry} now={now} />}
      {isTerminalExecution(runStatus) && <RerunForm key={nodeId} executionId={props.executionId} nodeId={nodeId} />}
      <MapProgress executionId={props.executionId} nodeId={nodeId} type={type} output={view?.output ?? null} live={props.itemCounts} status={status} />
      <MapItemList executionId={props.executionId} nodeId={nodeId} type={type} status={status} recorded={props.itemCounts?.recorded} />
      {type === 'approval' && status === 'WAITING' && view?.approval && (
        <div className="approval-prompt" data-testid="approval-prompt">
          {view.approval.message && <p className="prompt">{view.approval.message}</p>}
          {view.approval.deadline && (
            <p className="muted small">
              {view.approval.onTimeout === 'approve' ? 'approved' : 'rejected'} automatically {when(view.approval.deadline)} (in {until(view.approval.deadline, now)})
            </p>
          )}
          {view.approval.renderError && <p className="error small">message not rendered: {view.approval.renderError}</p>}
        </div>
      )}
      {approvable && (
        <div className="approve">
          <textarea aria-label="approval data" className="small-area" placeholder='optional data (JSON), e.g. {"note": "ok"}' value={data} onChange={(e) => setData(e.target.value)} />
          {dataError && <p className="error small">{dataError}</p>}
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
          <ErrorText error={view.error} />
        </>
      )}
      {view && view.failedAttempts.length > 0 && (
        <>
          <h3>Failed attempts</h3>
          <ol className="attempts" data-testid="failed-attempts">
            {view.failedAttempts.map((a) => (
              <li key={a.attempt} data-testid="failed-attempt">
                <span className="muted small">
                  attempt {a.attempt} · {when(a.at)}
                </span>{' '}
                <code className="error-type">{a.type}</code>
                <div className="wrap-text">{a.message}</div>
              </li>
            ))}
          </ol>
        </>
      )}
    </div>
  );
}

/** An error's type and its whole message as wrapped text (a JSON panel cut long messages off), then any details. */
function ErrorText({ error }: { error: unknown }) {
  const { type, message, ...rest } = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as { type?: string; message?: string };
  return (
    <div className="error-box" data-testid="node-error">
      {type && <code className="error-type">{type}</code>}
      {message && <div className="wrap-text">{message}</div>}
      {Object.keys(rest).length > 0 && <pre>{json(rest)}</pre>}
    </div>
  );
}

/** "in 4s", "in 2h05m": the time left until an ISO instant. */
function until(iso: string, now: number): string {
  const ms = Date.parse(iso) - now;
  if (!Number.isFinite(ms) || ms <= 0) return 'now';
  return duration(new Date(now).toISOString(), iso, now);
}

/** Why a WAITING node waits for its turn (DESIGN §2): a concurrency or rate-limit key, or its tenant's share of the worker. */
function WaitingForNote({ waitingFor }: { waitingFor: NonNullable<NodeView['waitingFor']> }) {
  const why =
    waitingFor.kind === 'tenantShare'
      ? "its tenant's fair share of the worker (other tenants' work goes first until a place frees)"
      : waitingFor.kind === 'rateLimit'
        ? <>the rate limit on key <span className="mono">{waitingFor.key}</span></>
        : <>a concurrency slot on key <span className="mono">{waitingFor.key}</span></>;
  return (
    <p className="muted small" data-testid="waiting-for" data-kind={waitingFor.kind}>
      waiting for {why}
    </p>
  );
}

/** Temporal's view of a node it is retrying: which attempt, what failed last, when it tries again. */
function RetryNote({ retry, now }: { retry: RetryInfo; now: number }) {
  if (retry.attempt <= 1 && !retry.lastFailure) return null;
  const of = retry.maximumAttempts > 0 ? ` of ${retry.maximumAttempts}` : '';
  return (
    <div className="retry-note" data-testid="retry-note">
      <p>
        <strong>
          attempt {retry.attempt}
          {of}
        </strong>
        {retry.state === 'SCHEDULED' && retry.nextAttemptAt ? <> · next try in {until(retry.nextAttemptAt, now)}</> : retry.state === 'STARTED' ? <> · trying now</> : null}
      </p>
      {retry.lastFailure && <p className="error small">last failure: {retry.lastFailure.message}</p>}
    </div>
  );
}
