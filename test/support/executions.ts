import { randomBytes } from 'node:crypto';
import type { Db } from '../../src/db/client';
import { Prisma } from '../../src/generated/prisma/client';
import type { ExecutionStatus, NodeStatus } from '../../src/domain/status';
import type { WorkflowDefinition } from '../../src/domain/definition';

/** fetch → check (approval) → shape → done: one activity, one approval, two inline nodes. */
export const ORDER_FLOW: WorkflowDefinition = {
  name: 'order-flow',
  nodes: [
    { id: 'fetch', type: 'http', config: { method: 'GET', url: 'https://example.com/orders' } },
    { id: 'check', type: 'approval' },
    { id: 'shape', type: 'transform', config: { expression: 'nodes.fetch.output.body' } },
    { id: 'done', type: 'noop' },
  ],
  edges: [
    { from: 'fetch', to: 'check' },
    { from: 'check', to: 'shape' },
    { from: 'shape', to: 'done' },
  ],
};

export async function tenantId(db: Db, name: string): Promise<string> {
  return (await db.tenant.findUniqueOrThrow({ where: { name } })).id;
}

/** A stored workflow with one version per definition given (latest = last), straight through Prisma. */
export async function seedWorkflow(
  db: Db,
  tenant: string,
  options: { versions?: WorkflowDefinition[]; archived?: boolean } = {},
): Promise<string> {
  const versions = options.versions ?? [ORDER_FLOW];
  const id = `wf_${randomBytes(8).toString('hex')}`;
  await db.workflow.create({
    data: {
      id,
      tenantId: tenant,
      name: versions[versions.length - 1]!.name,
      latestVersion: versions.length,
      archivedAt: options.archived ? new Date() : null,
      versions: {
        create: versions.map((definition, i) => ({ version: i + 1, definition: definition as unknown as Prisma.InputJsonValue })),
      },
    },
  });
  return id;
}

/** An execution row as the mirror would have left it, without going through the API or Temporal. */
export async function seedExecution(
  db: Db,
  data: { tenantId: string; workflowId: string; version?: number; status?: ExecutionStatus; input?: unknown; createdAt?: Date },
): Promise<string> {
  const id = `ex_seed_${randomBytes(8).toString('hex')}`;
  const finished = data.status !== undefined && data.status !== 'RUNNING';
  await db.execution.create({
    data: {
      id,
      tenantId: data.tenantId,
      workflowId: data.workflowId,
      version: data.version ?? 1,
      status: data.status ?? 'RUNNING',
      trigger: 'MANUAL',
      input: data.input === undefined ? undefined : (data.input as Prisma.InputJsonValue),
      ...(data.createdAt ? { createdAt: data.createdAt, startedAt: data.createdAt } : {}),
      ...(finished ? { finishedAt: new Date() } : {}),
    },
  });
  return id;
}

export async function seedNodeRun(
  db: Db,
  data: { executionId: string; nodeId: string; type: string; status: NodeStatus; attempt?: number; output?: unknown; error?: unknown },
): Promise<void> {
  const terminal = ['SUCCEEDED', 'FAILED', 'SKIPPED', 'CANCELLED'].includes(data.status);
  await db.nodeRun.create({
    data: {
      executionId: data.executionId,
      nodeId: data.nodeId,
      type: data.type,
      status: data.status,
      attempt: data.attempt ?? 1,
      output: data.output === undefined ? undefined : (data.output as Prisma.InputJsonValue),
      error: data.error === undefined ? undefined : (data.error as Prisma.InputJsonValue),
      startedAt: new Date('2030-01-01T00:00:00.000Z'),
      finishedAt: terminal ? new Date('2030-01-01T00:00:01.000Z') : null,
    },
  });
}
