import type { Db } from '../db/client';
import type { TemporalGateway } from '../temporal/gateway';
import { ServiceError, temporalUnavailable } from './errors';
import { findExecution } from './execution-view';

/** The refusal of a pause or resume: the run has ended (409). */
export const EXECUTION_CLOSED = 'EXECUTION_CLOSED';

const closed = (id: string, status: string, paused: boolean) =>
  new ServiceError('conflict', EXECUTION_CLOSED, `execution ${id} is ${status}; only a QUEUED or RUNNING run can be ${paused ? 'paused' : 'resumed'}`, { status });

/**
 * Pauses or resumes the tenant's run (DESIGN.md §6): sent as the `pause` / `resume` signal, so
 * the pause is workflow state (it survives worker and API restarts) and the run mirrors it
 * itself. Pausing a paused run, or resuming one that is not paused, changes nothing and is not
 * an error (a retried request must not fail). 404 for another tenant's run; 409 EXECUTION_CLOSED
 * once it has ended, also when Temporal knows it has and the mirror does not yet.
 */
export async function setExecutionPaused(
  deps: { db: Db; temporal: TemporalGateway },
  request: { tenantId: string; id: string; paused: boolean; by: string },
): Promise<{ id: string; status: 'QUEUED' | 'RUNNING'; paused: boolean }> {
  const execution = await findExecution(deps.db, request.tenantId, request.id);
  const { status } = execution;
  if (status !== 'QUEUED' && status !== 'RUNNING') throw closed(execution.id, status, request.paused);
  let delivered: boolean;
  try {
    delivered = await deps.temporal.setPaused(execution.id, request.paused, request.by);
  } catch {
    throw temporalUnavailable(`the ${request.paused ? 'pause' : 'resume'} signal was not delivered`, { hint: '(pausing or resuming twice is harmless)' });
  }
  if (!delivered) throw closed(execution.id, 'no longer running in Temporal', request.paused);
  return { id: execution.id, status, paused: request.paused };
}
