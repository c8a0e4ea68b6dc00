import { useMemo } from 'react';
import { Graph, layout } from '@dagrejs/dagre';
import type { Definition, NodeView } from './api';
import { DagNode, NODE_H, NODE_W } from './DagNode';

interface Laid {
  nodes: { id: string; type: string; x: number; y: number }[];
  edges: { key: string; points: { x: number; y: number }[]; label?: string; error: boolean; lx?: number; ly?: number }[];
  width: number;
  height: number;
}

function lay(definition: Definition): Laid {
  const g = new Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 40, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  const nodes = definition.nodes ?? [];
  for (const n of nodes) g.setNode(n.id, { width: NODE_W, height: NODE_H });
  const edges = (definition.edges ?? []).filter((e) => g.hasNode(e.from) && g.hasNode(e.to));
  edges.forEach((e, k) => {
    const label = e.on === 'error' ? 'on error' : e.when;
    g.setEdge(e.from, e.to, label ? { width: label.length * 7 + 10, height: 16, labelpos: 'c' } : {}, `e${k}`);
  });
  layout(g);
  const graph = g.graph() as { width?: number; height?: number };
  return {
    nodes: nodes.map((n) => {
      const p = g.node(n.id) as { x: number; y: number };
      return { id: n.id, type: n.type, x: p.x, y: p.y };
    }),
    edges: edges.map((e, k) => {
      const info = g.edge(e.from, e.to, `e${k}`) as { points?: { x: number; y: number }[]; x?: number; y?: number };
      return {
        key: `e${k}`,
        points: info.points ?? [],
        label: e.on === 'error' ? 'on error' : e.when,
        error: e.on === 'error',
        lx: info.x,
        ly: info.y,
      };
    }),
    width: graph.width ?? 0,
    height: graph.height ?? 0,
  };
}

function path(points: { x: number; y: number }[]): string {
  if (points.length === 0) return '';
  const [first, ...rest] = points;
  // Quadratic segments through the midpoints: dagre's bend points without sharp corners.
  if (rest.length <= 1) return `M${first!.x},${first!.y} L${(rest[0] ?? first)!.x},${(rest[0] ?? first)!.y}`;
  let d = `M${first!.x},${first!.y}`;
  for (let k = 0; k < rest.length - 1; k++) {
    const p = rest[k]!;
    const q = rest[k + 1]!;
    d += ` Q${p.x},${p.y} ${(p.x + q.x) / 2},${(p.y + q.y) / 2}`;
  }
  const last = rest[rest.length - 1]!;
  return `${d} L${last.x},${last.y}`;
}

/** The run's graph laid out by dagre, drawn as SVG; nodes coloured by their live status. */
export function Dag(props: { definition: Definition; nodes: Map<string, NodeView>; selected?: string; onSelect: (id: string) => void; now: number }) {
  const { definition, nodes, selected, onSelect, now } = props;
  const laid = useMemo(() => lay(definition), [definition]);
  return (
    <div className="dag">
      <svg
        role="img"
        aria-label="workflow graph"
        width={laid.width}
        height={laid.height}
        viewBox={`0 0 ${laid.width} ${laid.height}`}
        style={{ maxWidth: '100%', height: 'auto' }}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" fill="#6b7280" />
          </marker>
          <marker id="arrow-error" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" fill="#dc2626" />
          </marker>
        </defs>
        {laid.edges.map((e) => (
          <g key={e.key} className="edge">
            <path d={path(e.points)} fill="none" stroke={e.error ? '#dc2626' : '#9ca3af'} strokeWidth={1.5} strokeDasharray={e.error ? '5 3' : undefined} markerEnd={`url(#${e.error ? 'arrow-error' : 'arrow'})`} />
            {e.label && e.lx !== undefined && e.ly !== undefined && (
              <text x={e.lx} y={e.ly + 4} textAnchor="middle" className="edge-label">
                {e.label}
              </text>
            )}
          </g>
        ))}
        {laid.nodes.map((n) => (
          <DagNode key={n.id} id={n.id} type={n.type} x={n.x} y={n.y} view={nodes.get(n.id)} selected={selected === n.id} onSelect={onSelect} now={now} />
        ))}
      </svg>
    </div>
  );
}
