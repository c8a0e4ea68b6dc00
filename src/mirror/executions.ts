import type { Db } from '../db/client';
import { Prisma } from '../generated/prisma/client';
import type { ExecutionStatus, ExecutionTrigger } from '../domain/status';
import type { ExecutionRow } from './views';

/** The row the API writes before it starts a run (so a run is never live in Temporal without its mirror). */
export interface NewExecution {
  id: string;
  tenantId: string;
  workflowId: string;
  version: number;
  trigger: ExecutionTrigger;
  retryOf: string | null;
  idempotencyKey: string | null;
  input: unknown;
}

export async function createExecution(db: Db, row: NewExecution): Promise<ExecutionRow> {
  return db.execution.create({ data: { ...row, status: 'RUNNING', input: jsonInput(row.input) } });
}

/** The start never reached Temporal: FAILED, unless the workflow wrote to the mirror meanwhile (a racing replay started it). */
export async function markStartFailed(db: Db, id: string, error: { type: string; message: string }): Promise<void> {
  await db.execution.updateMany({
    where: { id, status: 'RUNNING', lastSeq: 0 },
    data: { status: 'FAILED', error, finishedAt: new Date() },
  });
}

/** A start that failed earlier has now reached Temporal: the run is RUNNING again. Returns the row as it is now. */
export async function reviveStartFailed(db: Db, id: string): Promise<ExecutionRow> {
  await db.execution.updateMany({
    where: { id, status: 'FAILED', lastSeq: 0 },
    data: { status: 'RUNNING', error: Prisma.DbNull, finishedAt: null },
  });
  return db.execution.findUniqueOrThrow({ where: { id } });
}

export async function findByIdempotencyKey(db: Db, tenantId: string, idempotencyKey: string): Promise<ExecutionRow | null> {
  return db.execution.findUnique({ where: { tenantId_idempotencyKey: { tenantId, idempotencyKey } } });
}

export async function countRunning(db: Db, tenantId: string, excluding: readonly string[] = []): Promise<number> {
  return db.execution.count({ where: { tenantId, status: 'RUNNING', ...(excluding.length > 0 && { id: { notIn: [...excluding] } }) } });
}

/** The tenant's execution (null also for another tenant's: ids must not leak across tenants). */
export async function findTenantExecution(db: Db, tenantId: string, id: string): Promise<ExecutionRow | null> {
  return db.execution.findFirst({ where: { id, tenantId } });
}

export interface ExecutionFilter {
  tenantId: string;
  workflowId?: string;
  status?: ExecutionStatus;
  /** Only RUNNING runs with an approval node waiting for a decision. */
  waitingApproval?: boolean;
  /** True: only test runs (started with mocks); otherwise only runs that are not. */
  test?: boolean;
  /** Keyset position: rows strictly after it in (createdAt DESC, id DESC) order. */
  after?: { createdAt: Date; id: string };
  limit: number;
}

/** Runs newest first; up to `limit` rows. */
export async function listExecutions(db: Db, filter: ExecutionFilter): Promise<ExecutionRow[]> {
  const { after } = filter;
  return db.execution.findMany({
    where: {
      tenantId: filter.tenantId,
      test: filter.test === true,
      ...(filter.workflowId === undefined ? {} : { workflowId: filter.workflowId }),
      ...(filter.status === undefined ? {} : { status: filter.status }),
      ...(filter.waitingApproval ? { status: 'RUNNING' as const, nodeRuns: { some: { status: 'WAITING' as const, type: 'approval' } } } : {}),
      ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
    },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: filter.limit,
  });
}

function jsonInput(input: unknown): Prisma.InputJsonValue | typeof Prisma.JsonNull | undefined {
  if (input === undefined) return undefined;
  return input === null ? Prisma.JsonNull : (input as Prisma.InputJsonValue);
}
