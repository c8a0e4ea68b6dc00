// A Gantt chart of a run: one bar per node from its start to its end (or now), waits drawn apart
// from work, and a tick for every failed attempt the workers recorded.
import type { DefinitionNode, NodeView } from './api';
import { duration, when } from './format';

const WAIT_TYPES = new Set(['delay', 'approval']);

export function Timeline(props: { runStartedAt: string; runFinishedAt: string | null; nodes: Map<string, NodeView>; order: DefinitionNode[] | undefined; now: number; onSelect: (id: string) => void; selected?: string }) {
  const { nodes, now } = props;
  const start = Date.parse(props.runStartedAt);
  const end = props.runFinishedAt ? Date.parse(props.runFinishedAt) : now;
  const ids = props.order?.map((n) => n.id) ?? [...nodes.keys()];
  const rows = ids.map((id) => nodes.get(id)).filter((n): n is NodeView => n !== undefined && n.startedAt !== null);
  if (rows.length === 0) return <p className="muted small">No node has started yet.</p>;
  const span = Math.max(1, end - start);
  const pct = (t: number) => `${Math.min(100, Math.max(0, ((t - start) / span) * 100))}%`;
  const width = (a: number, b: number) => `${Math.max(0.4, Math.min(100, ((b - a) / span) * 100))}%`;
  return (
    <div className="timeline" data-testid="timeline">
      <div className="timeline-scale muted small">
        <span>{when(props.runStartedAt)}</span>
        <span>{duration(props.runStartedAt, props.runFinishedAt, now)}</span>
      </div>
      {rows.map((n) => {
        const from = Date.parse(n.startedAt!);
        const to = n.finishedAt ? Date.parse(n.finishedAt) : end;
        const kind = WAIT_TYPES.has(n.type) || n.status === 'WAITING' ? 'wait' : 'work';
        return (
          <div key={n.nodeId} className={`timeline-row${props.selected === n.nodeId ? ' selected' : ''}`} onClick={() => props.onSelect(n.nodeId)} data-testid="timeline-row">
            <span className="timeline-label mono" title={n.nodeId}>
              {n.nodeId}
            </span>
            <span className="timeline-track">
              <span
                className={`timeline-bar ${n.status} ${kind}`}
                style={{ left: pct(from), width: width(from, to) }}
                title={`${n.nodeId}: ${n.status.toLowerCase()}${kind === 'wait' ? ' (waiting)' : ''}, ${duration(n.startedAt, n.finishedAt, now)}${n.attempt > 1 ? `, attempt ${n.attempt}` : ''}`}
              />
              {n.failedAttempts.map((a) => (
                <span key={a.attempt} className="timeline-attempt" style={{ left: pct(Date.parse(a.at)) }} title={`attempt ${a.attempt} failed ${when(a.at)}: ${a.type}: ${a.message}`} data-testid="timeline-attempt" />
              ))}
            </span>
            <span className="timeline-duration muted small">{duration(n.startedAt, n.finishedAt, now)}</span>
          </div>
        );
      })}
    </div>
  );
}
