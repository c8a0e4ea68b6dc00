// Links into the Temporal Web UI. Pure (no DOM, no fetch) so tests can import it directly.

/** Where the Temporal Web UI is and which namespace the runs live in (from /ui/config.json). */
export interface TemporalUi {
  temporalUiUrl: string;
  namespace: string;
}

/** The Temporal Web UI page of a run; with Temporal's run id it opens the run itself (without it, a search). */
export function temporalRunUrl(config: TemporalUi, executionId: string, runId?: string | null): string {
  const ns = `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.namespace)}`;
  if (runId) return `${ns}/workflows/${encodeURIComponent(executionId)}/${encodeURIComponent(runId)}/history`;
  return `${ns}/workflows?query=${encodeURIComponent(`WorkflowId="${executionId}"`)}`;
}

/**
 * The Temporal Web UI page of the workflow that ran a map item's body (or a loop iteration):
 * the run's own workflow for small maps, the map's child or one of its batch children for large
 * ones. Undefined for items recorded before the API returned it (no workflow id to open).
 */
export function bodyRunUrl(config: TemporalUi, item: { workflowId: string | null; runId: string | null }): string | undefined {
  if (!item.workflowId) return undefined;
  return temporalRunUrl(config, item.workflowId, item.runId);
}
