import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from '@temporalio/worker';
import { createTrellisWorker } from '../../src/worker';
import { createApiKey } from '../../src/services/api-keys';
import { ensureRetentionSchedule } from '../../src/services/retention-schedule';
import { RETENTION_SCHEDULE_ID, RETENTION_WORKFLOW_TYPE } from '../../src/contracts/retention';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { ORDER_FLOW, seedExecution, seedWorkflow } from '../support/executions';
import { connectTestServer, type ServerEnv } from '../support/temporal';

/**
 * retentionWorkflow on a real Temporal server and worker over a real database: a 1-minute
 * definition's runs (with map items and stored outputs) go in bounded steps, orphans are swept,
 * and the deployment's Schedule is created once and updated in place.
 */
let server: ServerEnv | undefined;
let database: TestDatabase;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `trellis-retention-${randomUUID()}`;

beforeAll(async () => {
  server = await connectTestServer('retention workflow');
  if (!server) return;
  database = await createTestDatabase();
  worker = await createTrellisWorker({
    connection: server.env.nativeConnection,
    namespace: server.env.namespace,
    taskQueue,
    db: database.db,
    retentionMs: null,
    payloadCodec: null,
  });
  running = worker.run();
}, 120_000);

afterAll(async () => {
  if (!server) return;
  worker.shutdown();
  await running;
  await database?.drop();
  await server.env.teardown();
});

describe('retentionWorkflow', () => {
  it('deletes a 1-minute definition\'s finished runs with their map items and outputs, and sweeps orphans', async (ctx) => {
    if (!server) return ctx.skip();
    const { tenantId } = await createApiKey(database.db, 'acme');
    const oneMinute = await seedWorkflow(database.db, tenantId, { versions: [{ ...ORDER_FLOW, retention: '1m' } as typeof ORDER_FLOW] });
    const blob = (executionId: string, createdAt?: Date) =>
      database.db.outputBlob.create({ data: { id: randomUUID(), tenantId, executionId, nodeId: 'n', data: {}, sizeBytes: 2, ...(createdAt && { createdAt }) } });
    const runs: string[] = [];
    for (let i = 0; i < 4; i++) {
      const id = await seedExecution(database.db, { tenantId, workflowId: oneMinute, status: 'SUCCEEDED' });
      await database.db.execution.update({ where: { id }, data: { finishedAt: new Date(Date.now() - 120_000) } });
      await database.db.mapItem.createMany({ data: Array.from({ length: 5 }, (_, index) => ({ executionId: id, nodeId: 'each', index, status: 'SUCCEEDED' as const })) });
      await blob(id);
      await blob(`${id}.each-batch-0`);
      runs.push(id);
    }
    const fresh = await seedExecution(database.db, { tenantId, workflowId: oneMinute, status: 'SUCCEEDED' });
    const orphans = await Promise.all([1, 2, 3].map((n) => blob(`ex_deleted_by_hand_${n}`, new Date(Date.now() - 7_200_000))));

    const result = await server.env.client.workflow.execute(RETENTION_WORKFLOW_TYPE, {
      taskQueue,
      workflowId: `retention-test-${randomUUID()}`,
      args: [{ batchSize: 3, sweepSize: 2 }],
      workflowExecutionTimeout: '2m',
    });
    expect(result).toEqual({ runs: 4, outputs: 3 });
    expect(await database.db.execution.count({ where: { id: { in: runs } } })).toBe(0);
    expect(await database.db.mapItem.count({ where: { executionId: { in: runs } } })).toBe(0);
    expect(await database.db.outputBlob.count({ where: { rootExecutionId: { in: runs } } })).toBe(0);
    expect(await database.db.outputBlob.count({ where: { id: { in: orphans.map((o) => o.id) } } })).toBe(0);
    expect(await database.db.execution.count({ where: { id: fresh } })).toBe(1);
  }, 120_000);

  it('keeps one Schedule per task queue: created at the first worker start, its interval updated by the next', async (ctx) => {
    if (!server) return ctx.skip();
    const client = server.env.client;
    const scheduleId = `${RETENTION_SCHEDULE_ID}-${taskQueue}`;
    try {
      await ensureRetentionSchedule(client, taskQueue, 3_600_000);
      await ensureRetentionSchedule(client, taskQueue, 3_600_000); // a second worker: no error, no second Schedule
      const first = await client.schedule.getHandle(scheduleId).describe();
      expect(first.spec.intervals?.map((i) => i.every)).toEqual([3_600_000]);
      expect(first.policies.overlap).toBe('SKIP');
      expect(first.action).toMatchObject({ type: 'startWorkflow', workflowType: RETENTION_WORKFLOW_TYPE, taskQueue });
      await ensureRetentionSchedule(client, taskQueue, 7_200_000);
      const updated = await client.schedule.getHandle(scheduleId).describe();
      expect(updated.spec.intervals?.map((i) => i.every)).toEqual([7_200_000]);
    } finally {
      await client.schedule.getHandle(scheduleId).delete().catch(() => undefined);
    }
  }, 60_000);
});
