import type { TemporalGateway } from '../temporal/gateway';
import type { LimiterKind } from '../domain/flow-control';
import { unavailable } from './errors';

/** One key in use, as GET /limits shows it (DESIGN.md §5). */
export interface LimitInUse {
  scope: 'run' | 'node';
  kind: LimiterKind;
  workflowId?: string;
  key: string;
  limit: number;
  inFlight: number;
  waiting: number;
}

/**
 * The tenant's concurrency and rate-limit keys in use now, read from their limiter workflows
 * (the only place the counts are exact). Keys with nothing in flight or waiting are left out.
 */
export async function listLimitsInUse(temporal: TemporalGateway, tenantId: string): Promise<LimitInUse[]> {
  let snapshots;
  try {
    snapshots = await temporal.listLimiters(tenantId);
  } catch {
    throw unavailable('TEMPORAL_UNAVAILABLE', 'the limiters could not be read from Temporal; try again');
  }
  return snapshots
    .filter((s) => s.inFlight > 0 || s.waiting > 0)
    .map((s) => ({
      scope: s.kind === 'run' ? ('run' as const) : ('node' as const),
      kind: s.kind,
      ...(s.kind === 'run' && s.workflowId !== undefined && { workflowId: s.workflowId }),
      key: s.key,
      limit: s.limit,
      inFlight: s.inFlight,
      waiting: s.waiting,
    }))
    .sort((a, b) => a.scope.localeCompare(b.scope) || (a.workflowId ?? '').localeCompare(b.workflowId ?? '') || a.key.localeCompare(b.key));
}
