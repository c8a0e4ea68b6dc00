import { randomInt } from 'node:crypto';
import type { Db } from '../db/client';
import { Prisma } from '../generated/prisma/client';
import { conflict, notFound, quotaExceeded } from './errors';
import { quotaRefusal, quotaUsage, tenantQuotaLimit, withinQuota } from './quotas';
import { afterCursor, page, type Cursor } from '../util/pagination';
import { canonicalKeyOrder } from '../domain/definition-order';

export interface WorkflowSummary {
  id: string;
  name: string;
  description: string | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
  archived: boolean;
}

export interface WorkflowDetail extends WorkflowSummary {
  definition: unknown;
  /** Webhook calls dropped by run-level concurrency (onLimit drop): no run was created for them. */
  hookDrops?: { count: number; lastDroppedAt: Date | null };
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `wf_` + 20 base62 characters (~119 bits): unguessable, URL-safe, and obviously a workflow id. */
export function newWorkflowId(): string {
  let id = 'wf_';
  for (let i = 0; i < 20; i++) id += BASE62[randomInt(BASE62.length)];
  return id;
}

type WorkflowRow = {
  id: string;
  name: string;
  description: string | null;
  latestVersion: number;
  createdAt: Date;
  updatedAt: Date;
  archivedAt: Date | null;
};

function summary(row: WorkflowRow): WorkflowSummary {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    version: row.latestVersion,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    archived: row.archivedAt !== null,
  };
}

export async function createWorkflow(
  db: Db,
  tenantId: string,
  input: { name: string; description?: string; definition: unknown },
): Promise<WorkflowDetail> {
  // Counted and inserted under the tenant's WORKFLOWS lock; the nested create keeps version 1 with it.
  const row = await quotaRefusal(
    withinQuota(db, {
      tenantId,
      quota: 'WORKFLOWS',
      used: (tx) => quotaUsage.WORKFLOWS(tx, tenantId),
      store: (tx) =>
        tx.workflow.create({
          data: {
            id: newWorkflowId(),
            tenantId,
            name: input.name,
            description: input.description ?? null,
            latestVersion: 1,
            versions: { create: { version: 1, definition: input.definition as Prisma.InputJsonValue } },
          },
        }),
    }),
  );
  return { ...summary(row), definition: input.definition };
}

export async function listWorkflows(
  db: Db,
  tenantId: string,
  options: { limit: number; cursor?: Cursor; includeArchived: boolean },
): Promise<{ items: WorkflowSummary[]; nextCursor: string | null }> {
  const rows = await db.workflow.findMany({
    where: { tenantId, ...(options.includeArchived ? {} : { archivedAt: null }), ...afterCursor(options.cursor) },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: options.limit + 1,
  });
  const result = page(rows, options.limit);
  return { items: result.items.map(summary), nextCursor: result.nextCursor };
}

/** The workflow's row, scoped to the tenant: another tenant's workflow is as absent as an unknown one. */
export async function findWorkflow(db: Db, tenantId: string, id: string) {
  const row = await db.workflow.findFirst({ where: { id, tenantId } });
  if (!row) throw notFound(`workflow ${id}`);
  return row;
}

export async function getWorkflow(db: Db, tenantId: string, id: string): Promise<WorkflowDetail> {
  const row = await db.workflow.findFirst({
    where: { id, tenantId },
    include: { versions: { orderBy: { version: 'desc' }, take: 1 } },
  });
  if (!row) throw notFound(`workflow ${id}`);
  const latest = row.versions[0];
  return {
    ...summary(row),
    version: latest?.version ?? row.latestVersion,
    definition: canonicalKeyOrder(latest?.definition ?? null),
    hookDrops: { count: row.hookDroppedStarts, lastDroppedAt: row.hookLastDroppedAt },
  };
}

export async function getWorkflowVersion(db: Db, tenantId: string, id: string, version: number) {
  const row = await db.workflowVersion.findFirst({
    where: { workflowId: id, version, workflow: { tenantId } },
    include: { workflow: { select: { name: true } } },
  });
  if (!row) throw notFound(`version ${version} of workflow ${id}`);
  return { id, name: row.workflow.name, version: row.version, createdAt: row.createdAt, definition: canonicalKeyOrder(row.definition) };
}

/**
 * Stores a new immutable version. The increment is one UPDATE (row-locked until commit), so
 * concurrent PUTs serialize on the workflow row and each gets its own number; the same UPDATE
 * matches only below the VERSIONS quota (versions are numbered from 1 and never deleted), so
 * the quota is exact under concurrency too.
 */
export async function addWorkflowVersion(
  db: Db,
  tenantId: string,
  id: string,
  input: { definition: unknown; name?: string; description?: string },
): Promise<WorkflowDetail> {
  const existing = await findWorkflow(db, tenantId, id);
  if (existing.archivedAt) throw archived(id);
  const maxVersions = await tenantQuotaLimit(db, tenantId, 'VERSIONS');
  if (existing.latestVersion >= maxVersions) throw quotaExceeded('VERSIONS', maxVersions, existing.latestVersion);
  try {
    return await db.$transaction(async (tx) => {
      const row = await tx.workflow.update({
        where: { id, tenantId, archivedAt: null, latestVersion: { lt: maxVersions } },
        data: {
          latestVersion: { increment: 1 },
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.description !== undefined ? { description: input.description } : {}),
        },
      });
      await tx.workflowVersion.create({
        data: { workflowId: id, version: row.latestVersion, definition: input.definition as Prisma.InputJsonValue },
      });
      return { ...summary(row), definition: input.definition };
    });
  } catch (err) {
    // P2025: the row stopped matching between the read and the update: archived, or a concurrent PUT took the last version.
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2025') {
      const now = await findWorkflow(db, tenantId, id);
      if (now.archivedAt) throw archived(id);
      throw quotaExceeded('VERSIONS', maxVersions, now.latestVersion);
    }
    throw err;
  }
}

/** Archives the workflow (no new runs; versions and runs are kept). Archiving twice is a no-op. */
export async function archiveWorkflow(db: Db, tenantId: string, id: string): Promise<void> {
  const { count } = await db.workflow.updateMany({ where: { id, tenantId, archivedAt: null }, data: { archivedAt: new Date() } });
  if (count === 0) await findWorkflow(db, tenantId, id);
}

/** Replaces the webhook token's hash (or clears it, disabling the hook). */
export async function setHookTokenHash(db: Db, tenantId: string, id: string, hash: string | null): Promise<void> {
  const row = await findWorkflow(db, tenantId, id);
  if (hash !== null && row.archivedAt) throw archived(id);
  await db.workflow.updateMany({ where: { id, tenantId }, data: { hookTokenHash: hash } });
}

function archived(id: string) {
  return conflict(`workflow ${id} is archived`, { workflowId: id });
}
