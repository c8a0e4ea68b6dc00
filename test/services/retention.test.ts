import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRetentionActivities } from '../../src/activities/retention';
import { validateDefinition } from '../../src/domain/validate';
import { loadConfig } from '../../src/config';
import { createApiKey } from '../../src/services/api-keys';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { ORDER_FLOW, seedExecution, seedWorkflow } from '../support/executions';

let database: TestDatabase;
let tenantId: string;
beforeAll(async () => {
  database = await createTestDatabase();
  tenantId = (await createApiKey(database.db, 'acme')).tenantId;
});
afterAll(async () => database?.drop());

/** A finished run of `workflowId` that ended `agoMs` ago, with a node run and a stored output. */
async function finishedRun(workflowId: string, agoMs: number, status: 'SUCCEEDED' | 'RUNNING' = 'SUCCEEDED'): Promise<string> {
  const id = await seedExecution(database.db, { tenantId, workflowId, status });
  if (status !== 'RUNNING') await database.db.execution.update({ where: { id }, data: { finishedAt: new Date(Date.now() - agoMs) } });
  await database.db.nodeRun.create({ data: { executionId: id, nodeId: 'fetch', type: 'http', status: status === 'RUNNING' ? 'RUNNING' : 'SUCCEEDED', attempt: 1 } });
  await database.db.outputBlob.create({ data: { id: randomUUID(), tenantId, executionId: id, nodeId: 'fetch', data: { big: true }, sizeBytes: 12 } });
  return id;
}

const exists = async (id: string) => (await database.db.execution.count({ where: { id } })) === 1;

describe('retention: finished runs deleted after the definition\'s retention, else TRELLIS_RETENTION', () => {
  const blob = (executionId: string, createdAt?: Date) =>
    database.db.outputBlob.create({ data: { id: randomUUID(), tenantId, executionId, nodeId: 'n', data: {}, sizeBytes: 2, ...(createdAt && { createdAt }) } });

  /** Steps until one comes back short, as the workflow does; each step's row count stays within `limit`. */
  async function drain(activities: ReturnType<typeof createRetentionActivities>, limit: number): Promise<{ runs: number; steps: number[] }> {
    const steps: number[] = [];
    let runs = 0;
    for (;;) {
      const step = await activities.deleteExpiredRuns({ limit });
      steps.push(step.rows);
      runs += step.runs;
      if (step.rows < limit) return { runs, steps };
    }
  }

  it('takes a 1-minute definition\'s runs that ended over a minute ago, with node runs, map items and stored outputs, in bounded batches', async () => {
    const oneMinute = await seedWorkflow(database.db, tenantId, { versions: [{ ...ORDER_FLOW, retention: '1m' } as typeof ORDER_FLOW] });
    const keepForever = await seedWorkflow(database.db, tenantId);
    const old = await Promise.all([1, 2, 3].map(() => finishedRun(oneMinute, 90_000)));
    const fresh = await finishedRun(oneMinute, 10_000);
    const running = await finishedRun(oneMinute, 0, 'RUNNING');
    const noRetention = await finishedRun(keepForever, 86_400_000);
    // The first old run mapped over 25 items in batch workflows that stored their chunks under
    // "<run>.each-batch-N"; its subworkflow node started a child run "<run>.sub" that is still running.
    const [mapper] = old as [string, ...string[]];
    await database.db.mapItem.createMany({
      data: Array.from({ length: 25 }, (_, index) => ({ executionId: mapper, nodeId: 'each', index, status: 'SUCCEEDED' as const, workflowId: `${mapper}.each-batch-${index % 3}` })),
    });
    const batchBlobs = await Promise.all([0, 1, 2].map((n) => blob(`${mapper}.each-batch-${n}`)));
    const child = `${mapper}.sub`;
    await database.db.execution.create({ data: { id: child, tenantId, workflowId: keepForever, version: 1, status: 'RUNNING', trigger: 'EXTERNAL' } });
    const childBlob = await blob(child);
    const childBatchBlob = await blob(`${child}.each-batch-0`);

    const keep = createRetentionActivities(database.db, null);
    const { runs, steps } = await drain(keep, 4);
    expect(runs).toBe(3);
    // 3 runs + 3 node runs + 3 run outputs + 3 batch outputs + 25 map items = 37 rows, at most 4 per step.
    expect(steps.reduce((a, b) => a + b, 0)).toBe(37);
    expect(Math.max(...steps)).toBeLessThanOrEqual(4);
    expect(steps.length).toBeGreaterThanOrEqual(10);
    for (const id of old) expect(await exists(id)).toBe(false);
    expect(await database.db.nodeRun.count({ where: { executionId: { in: old } } })).toBe(0);
    expect(await database.db.mapItem.count({ where: { executionId: { in: old } } })).toBe(0);
    expect(await database.db.outputBlob.count({ where: { executionId: { in: old } } })).toBe(0);
    expect(await database.db.outputBlob.count({ where: { id: { in: batchBlobs.map((b) => b.id) } } })).toBe(0);
    // The live child run keeps its row and its outputs (they belong to it, not to its parent).
    expect(await exists(child)).toBe(true);
    expect(await database.db.outputBlob.count({ where: { id: { in: [childBlob.id, childBatchBlob.id] } } })).toBe(2);
    for (const id of [fresh, running, noRetention]) expect(await exists(id)).toBe(true);

    // TRELLIS_RETENTION=1d takes the run without a retention of its own; the definition's 1m still wins for its runs.
    const day = createRetentionActivities(database.db, 86_400_000 - 60_000);
    expect((await drain(day, 100)).runs).toBe(1);
    expect(await exists(noRetention)).toBe(false);
    expect(await exists(fresh)).toBe(true);
    await database.db.execution.delete({ where: { id: child } });
  });

  it('sweeps stored outputs no run owns, after a grace period, looking at a bounded window per call', async () => {
    const workflowId = await seedWorkflow(database.db, tenantId);
    const live = await finishedRun(workflowId, 0);
    const old = new Date(Date.now() - 2 * 3_600_000);
    const orphan = await blob('ex_gone_long_ago', old);
    const orphanBatch = await blob('ex_gone_long_ago.each-batch-0', old);
    const liveBatch = await blob(`${live}.each-batch-0`, old);
    const recentOrphan = await blob('ex_just_now', new Date());
    const sweeper = createRetentionActivities(database.db, null);
    let deleted = 0;
    let calls = 0;
    let after: string | undefined;
    do {
      const step = await sweeper.deleteOrphanedOutputs({ limit: 2, ...(after && { after }) });
      deleted += step.deleted;
      after = step.next;
      calls++;
    } while (after);
    expect(deleted).toBe(2);
    const total = await database.db.outputBlob.count();
    expect(calls).toBeGreaterThanOrEqual(Math.ceil((total + 2) / 2)); // two per call, over the whole table
    const left = await database.db.outputBlob.findMany({ where: { id: { in: [orphan.id, orphanBatch.id, liveBatch.id, recentOrphan.id] } } });
    expect(left.map((b) => b.id).sort()).toEqual([liveBatch.id, recentOrphan.id].sort());
  });

  it('accepts a definition retention of at least 1m, and reads TRELLIS_RETENTION / _INTERVAL strictly', () => {
    const tiny = { name: 'tiny', nodes: [{ id: 'a', type: 'noop' }] };
    expect(validateDefinition({ ...tiny, retention: '1m' })).toMatchObject({ valid: true });
    const short = validateDefinition({ ...tiny, retention: '30s' });
    expect(short.valid).toBe(false);
    expect(short.errors).toContainEqual(expect.objectContaining({ path: '/retention', message: 'must be at least 1m' }));
    const defaults = loadConfig({});
    expect([defaults.TRELLIS_RETENTION, defaults.TRELLIS_RETENTION_INTERVAL]).toEqual([undefined, 3_600_000]);
    const set = loadConfig({ TRELLIS_RETENTION: '30d', TRELLIS_RETENTION_INTERVAL: '10s' });
    expect([set.TRELLIS_RETENTION, set.TRELLIS_RETENTION_INTERVAL]).toEqual([30 * 86_400_000, 10_000]);
    expect(() => loadConfig({ TRELLIS_RETENTION: 'forever' })).toThrow(/TRELLIS_RETENTION/);
    expect(() => loadConfig({ TRELLIS_RETENTION: '30s' })).toThrow(/TRELLIS_RETENTION/);
    expect(() => loadConfig({ TRELLIS_RETENTION_INTERVAL: '1s' })).toThrow(/TRELLIS_RETENTION_INTERVAL/);
  });
});
