import { randomUUID } from 'node:crypto';
import type { Db } from '../db/client';
import type { WorkflowDefinition } from '../domain/definition';
import { ExpressionCompiler, resolveTemplates } from '../domain/expressions';
import { SHARED_RUN_KEY, evaluatedKey } from '../domain/flow-control';
import type { TemporalGateway } from '../temporal/gateway';
import type { RunSlotReservation } from '../temporal/limiters';
import { ServiceError } from './errors';

/** DESIGN.md §5: a run slot left by a run that never started (or ended outside the workflow) frees within 30 s. */
const RUN_SLOT_LEASE_MS = 30_000;

/** The run about to start, as the start path has it once its row is written. */
export interface RunToReserve {
  executionId: string;
  tenantId: string;
  workflowId: string;
  version: number;
  input: unknown;
  definition: WorkflowDefinition;
}

/** 409 CONCURRENCY_LIMITED: the start was dropped (onLimit drop), naming the key and its limit. */
export function concurrencyLimited(run: Pick<RunToReserve, 'workflowId'>, key: string, limit: number): ServiceError {
  const which = key === SHARED_RUN_KEY ? 'of this workflow' : `of workflow ${run.workflowId} with concurrency key "${key}"`;
  return new ServiceError(
    'conflict',
    'CONCURRENCY_LIMITED',
    `${limit} run(s) ${which} are running (concurrency limit ${limit}, onLimit: drop); the start was dropped and no run was created`,
    { workflowId: run.workflowId, key, limit },
  );
}

/** The start was dropped (concurrencyLimited): details name the key and limit. */
export function isStartDropped(err: unknown): err is ServiceError & { details: { workflowId: string; key: string; limit: number } } {
  return err instanceof ServiceError && err.code === 'CONCURRENCY_LIMITED';
}

/** Counts a webhook call dropped this way on its workflow (shown as `hookDroppedStarts` on GET /workflows/:id). */
export async function recordDroppedHookStart(db: Db, tenantId: string, workflowId: string): Promise<void> {
  await db.workflow.updateMany({ where: { id: workflowId, tenantId }, data: { hookDroppedStarts: { increment: 1 }, hookLastDroppedAt: new Date() } });
}

/**
 * Run-level concurrency with onLimit "drop" (DESIGN.md §5), decided before the run exists: the
 * key's limiter workflow (the one holder of the key's count, so exact across API replicas) is
 * asked for a slot held for this execution id. Granted: the reservation's id, which the run asks
 * with to take that slot. Denied: the run's row is deleted and the start refused (409). A key the
 * API cannot evaluate is left to the run, which fails LimitKeyInvalid before any node as before.
 */
export async function reserveDropSlot(deps: { db: Db; temporal: TemporalGateway }, run: RunToReserve): Promise<RunSlotReservation | undefined> {
  const concurrency = run.definition.concurrency;
  if (!concurrency || concurrency.onLimit !== 'drop') return undefined;
  const key = await runKey(run);
  if (key === undefined) return undefined;
  const reservation: RunSlotReservation = {
    identity: { tenantId: run.tenantId, kind: 'run', key, workflowId: run.workflowId },
    id: randomUUID(),
    executionId: run.executionId,
    limit: concurrency.limit,
    leaseMs: RUN_SLOT_LEASE_MS,
  };
  // Errors (Temporal unreachable) reach the caller, which marks the start failed.
  const decision = await deps.temporal.reserveRunSlot(reservation);
  if (decision === 'granted') return reservation;
  // Nothing has run and nothing else writes the row of a run that never started (lastSeq 0).
  await deps.db.execution.deleteMany({ where: { id: run.executionId, tenantId: run.tenantId, lastSeq: 0 } });
  throw concurrencyLimited(run, key, concurrency.limit);
}

/** Gives a reserved slot back when the run could not be started after all (best effort: the lease frees it anyway). */
export async function releaseDropSlot(temporal: TemporalGateway, reservation: RunSlotReservation | undefined): Promise<void> {
  if (reservation) await temporal.releaseRunSlot(reservation).catch(() => undefined);
}

/** The key as the run evaluates it (run-queue.ts): a template over `input` only (validation makes sure). */
async function runKey(run: RunToReserve): Promise<string | undefined> {
  const raw = run.definition.concurrency!.key;
  if (raw === undefined) return SHARED_RUN_KEY;
  if (!raw.includes('{{')) return 'key' in evaluatedKey(raw) ? raw : undefined;
  const context = {
    input: run.input ?? null,
    nodes: {},
    execution: { id: run.executionId, workflowId: run.workflowId, version: run.version, startedAt: new Date().toISOString() },
  };
  try {
    const checked = evaluatedKey(await resolveTemplates(raw, context, new ExpressionCompiler()));
    return 'key' in checked ? checked.key : undefined;
  } catch {
    return undefined;
  }
}
