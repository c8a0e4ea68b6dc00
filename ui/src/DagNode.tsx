import type { NodeStatus, NodeView } from './api';
import { duration } from './format';

export const NODE_W = 200;
export const NODE_H = 54;

export const STATUS_COLORS: Record<NodeStatus, { fill: string; stroke: string }> = {
  PENDING: { fill: '#f3f4f6', stroke: '#9ca3af' },
  RUNNING: { fill: '#dbeafe', stroke: '#2563eb' },
  WAITING: { fill: '#fef3c7', stroke: '#d97706' },
  SUCCEEDED: { fill: '#dcfce7', stroke: '#16a34a' },
  FAILED: { fill: '#fee2e2', stroke: '#dc2626' },
  SKIPPED: { fill: '#fafafa', stroke: '#d4d4d4' },
  CANCELLED: { fill: '#ede9fe', stroke: '#7c3aed' },
};

/** The second line of a node: status, attempt (of how many, while Temporal retries it) and time taken. */
export function nodeDetail(view: NodeView | undefined, now: number): string {
  if (!view) return 'pending';
  const retrying = view.retry && (view.retry.attempt > 1 || view.retry.lastFailure);
  const attempt = retrying
    ? `attempt ${view.retry!.attempt}${view.retry!.maximumAttempts > 0 ? `/${view.retry!.maximumAttempts}` : ''}`
    : view.attempt > 1
      ? `attempt ${view.attempt}`
      : '';
  const waiting = view.status === 'WAITING' && view.waitingFor ? `waiting: ${view.waitingFor.kind}` : undefined;
  const status = view.reused ? 'reused' : retrying && view.retry!.state === 'SCHEDULED' ? 'retrying' : (waiting ?? view.status.toLowerCase());
  return [status, attempt, duration(view.startedAt, view.finishedAt, now)].filter(Boolean).join(' · ');
}

/**
 * Extra drawing per node type, inside the node's box (a type with items, say, can add a
 * progress bar here). Keyed by node type; absent types get the plain box.
 */
export const NODE_DECORATIONS: Record<string, (props: { view: NodeView | undefined }) => React.ReactNode> = {};

/** One node of the graph: a box coloured by status, its id and type, and a detail line. */
export function DagNode(props: { id: string; type: string; x: number; y: number; view: NodeView | undefined; selected: boolean; onSelect: (id: string) => void; now: number }) {
  const { id, type, x, y, view, selected, onSelect, now } = props;
  const status: NodeStatus = view?.status ?? 'PENDING';
  const colors = STATUS_COLORS[status];
  const Decoration = NODE_DECORATIONS[type];
  return (
    <g
      className={`node ${status}${selected ? ' selected' : ''}`}
      data-node-id={id}
      data-status={status}
      transform={`translate(${x - NODE_W / 2},${y - NODE_H / 2})`}
      onClick={() => onSelect(id)}
      role="button"
      aria-label={`node ${id}: ${status}`}
    >
      <rect width={NODE_W} height={NODE_H} rx={8} fill={colors.fill} stroke={selected ? '#111827' : colors.stroke} strokeWidth={selected ? 2.5 : 1.5} strokeDasharray={status === 'SKIPPED' ? '4 3' : undefined} />
      <rect width={6} height={NODE_H} rx={3} fill={colors.stroke} />
      <text x={14} y={21} className="node-title">
        {id.length > 18 ? `${id.slice(0, 17)}…` : id}
        <tspan className="node-type" dx={6}>
          {type}
        </tspan>
      </text>
      <text x={14} y={40} className="node-detail">
        {nodeDetail(view, now)}
      </text>
      {Decoration && <Decoration view={view} />}
    </g>
  );
}
