import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { WorkerMetrics } from '../../src/observability/worker-metrics';

// The dashboard reads the worker's and the API's metrics by name: a renamed metric must fail here.
const dashboard = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'grafana-trellis.json'), 'utf8')) as {
  panels: { type: string; targets?: { expr: string }[] }[];
};
const API_METRICS = ['trellis_http_request_duration_seconds', 'trellis_runs_started_total', 'trellis_executions', 'trellis_node_runs', 'trellis_node_run_duration_seconds', 'trellis_starts_dropped_total'];

describe('docs/grafana-trellis.json', () => {
  it('queries only metrics Trellis exports, and every worker metric', async () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBeGreaterThan(10);
    const worker = (await new WorkerMetrics().registry.getMetricsAsJSON()).map((m) => m.name);
    const used = new Set(exprs.flatMap((e) => e.match(/trellis_\w+/g) ?? []).map((n) => n.replace(/_(bucket|count|sum)$/, '')));
    for (const name of used) expect([...worker, ...API_METRICS]).toContain(name);
    for (const name of worker) expect(used).toContain(name);
  });
});
