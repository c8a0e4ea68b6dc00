import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMirrorActivities } from '../../src/activities/mirror';
import { createApiKey } from '../../src/services/api-keys';
import { reconcileOnce, startReconciler } from '../../src/persistence/reconciler';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';
import type { NodeTransition } from '../../src/contracts/mirror';

let t: TestDatabase;
let mirror: ReturnType<typeof createMirrorActivities>;
beforeAll(async () => {
  t = await createTestDatabase();
  mirror = createMirrorActivities(t.db);
  const { tenantId } = await createApiKey(t.db, 'acme');
  await t.db.workflow.create({ data: { id: 'wf_m', tenantId, name: 'm', latestVersion: 1 } });
});
afterAll(async () => t?.drop());

const base = { executionId: '', temporalRunId: 'run-1', workflowId: 'wf_m', version: 1, input: { a: 1 }, startedAt: new Date().toISOString() };
const node = (seq: number, status: NodeTransition['status'], extra: Partial<NodeTransition> = {}): NodeTransition => ({
  seq,
  nodeId: 'n1',
  type: 'http',
  status,
  attempt: 1,
  ...extra,
});

describe('status mirror activities', () => {
  it('records a run started outside the API as EXTERNAL, and a scheduled one as SCHEDULE', async () => {
    expect(await mirror.recordRun({ ...base, executionId: 'ex-ext' })).toBe(true);
    expect(await mirror.recordRun({ ...base, executionId: 'ex-sch', scheduleId: 'sch_1' })).toBe(true);
    const rows = await t.db.execution.findMany({ where: { id: { in: ['ex-ext', 'ex-sch'] } }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => [r.id, r.trigger, r.scheduleId, r.status])).toEqual([
      ['ex-ext', 'EXTERNAL', null, 'RUNNING'],
      ['ex-sch', 'SCHEDULE', 'sch_1', 'RUNNING'],
    ]);
    expect(rows[0]!.input).toEqual({ a: 1 });
  });

  it('keeps the row the API created (trigger, key) and only adds the Temporal run id', async () => {
    const tenant = (await t.db.tenant.findFirstOrThrow()).id;
    await t.db.execution.create({ data: { id: 'ex-api', tenantId: tenant, workflowId: 'wf_m', version: 1, trigger: 'MANUAL', idempotencyKey: 'k1' } });
    await mirror.recordRun({ ...base, executionId: 'ex-api', temporalRunId: 'run-9' });
    const row = await t.db.execution.findUniqueOrThrow({ where: { id: 'ex-api' } });
    expect([row.trigger, row.idempotencyKey, row.temporalRunId]).toEqual(['MANUAL', 'k1', 'run-9']);
  });

  it('does not mirror runs of workflows that are not stored', async () => {
    expect(await mirror.recordRun({ ...base, executionId: 'ex-none', workflowId: 'wf_unknown' })).toBe(false);
    expect(await t.db.execution.findUnique({ where: { id: 'ex-none' } })).toBeNull();
  });

  it('applies concurrent writes of many runs (grouped into shared statements), each with its own rows and run state', async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `ex-group-${i}`);
    for (const executionId of ids) await mirror.recordRun({ ...base, executionId });
    await Promise.all(
      ids.map((executionId, i) =>
        mirror.mirrorTransitions({
          executionId,
          nodes: [node(1, 'SUCCEEDED', { output: { i } }), node(2, 'RUNNING', { nodeId: 'n2' })],
          ...(i % 2 === 0 && { run: { seq: 3, status: 'FAILED' as const, output: { i }, error: { type: 'X', message: `run ${i}` }, finishedAt: new Date().toISOString() } }),
        }),
      ),
    );
    const rows = await t.db.nodeRun.findMany({ where: { executionId: { in: ids } }, orderBy: [{ executionId: 'asc' }, { nodeId: 'asc' }] });
    expect(rows).toHaveLength(24);
    for (const [i, executionId] of ids.entries()) {
      expect(rows.find((r) => r.executionId === executionId && r.nodeId === 'n1')?.output).toEqual({ i });
      const run = await t.db.execution.findUniqueOrThrow({ where: { id: executionId } });
      expect([run.status, run.lastSeq, run.output, (run.error as { message?: string } | null)?.message]).toEqual(
        i % 2 === 0 ? ['FAILED', 3, { i }, `run ${i}`] : ['RUNNING', 0, null, undefined],
      );
    }
  });

  it('never lets an older write overwrite a newer one, whatever the arrival order', async () => {
    await mirror.recordRun({ ...base, executionId: 'ex-order' });
    const done = node(5, 'SUCCEEDED', { attempt: 3, output: { ok: true }, finishedAt: new Date().toISOString() });
    await mirror.mirrorTransitions({ executionId: 'ex-order', nodes: [done] });
    await mirror.mirrorTransitions({ executionId: 'ex-order', nodes: [node(2, 'RUNNING')] });
    await mirror.mirrorTransitions({ executionId: 'ex-order', nodes: [done] }); // a retried duplicate
    const row = await t.db.nodeRun.findUniqueOrThrow({ where: { executionId_nodeId: { executionId: 'ex-order', nodeId: 'n1' } } });
    expect([row.status, row.attempt, row.lastSeq, row.output]).toEqual(['SUCCEEDED', 3, 5, { ok: true }]);

    await mirror.mirrorTransitions({ executionId: 'ex-order', nodes: [], run: { seq: 7, status: 'SUCCEEDED', output: { n1: 1 } } });
    await mirror.mirrorTransitions({ executionId: 'ex-order', nodes: [], run: { seq: 6, status: 'FAILED' } });
    const run = await t.db.execution.findUniqueOrThrow({ where: { id: 'ex-order' } });
    expect([run.status, run.lastSeq, run.output]).toEqual(['SUCCEEDED', 7, { n1: 1 }]);
  });
});

describe('reconciler', () => {
  it('brings runs that ended outside the workflow into the mirror, once, and leaves running ones alone', async () => {
    const temporal = new FakeTemporalGateway();
    for (const id of ['ex-term', 'ex-timeout', 'ex-alive']) {
      await mirror.recordRun({ ...base, executionId: id });
      await mirror.mirrorTransitions({ executionId: id, nodes: [node(1, 'RUNNING')] });
    }
    temporal.descriptions.set('ex-term', { status: 'TERMINATED', closeTime: new Date() });
    temporal.descriptions.set('ex-timeout', { status: 'TIMED_OUT', closeTime: new Date() });
    temporal.descriptions.set('ex-alive', { status: 'RUNNING' });
    await t.db.execution.updateMany({ data: { updatedAt: new Date(Date.now() - 60_000) } });

    expect(await reconcileOnce({ db: t.db, temporal, graceMs: 1_000 })).toBe(2);
    const rows = await t.db.execution.findMany({ where: { id: { in: ['ex-term', 'ex-timeout', 'ex-alive'] } }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => [r.id, r.status, (r.error as { type?: string } | null)?.type ?? null])).toEqual([
      ['ex-alive', 'RUNNING', null],
      ['ex-term', 'CANCELLED', 'Terminated'],
      ['ex-timeout', 'TIMED_OUT', 'TimedOut'],
    ]);
    const nodeRun = await t.db.nodeRun.findUniqueOrThrow({ where: { executionId_nodeId: { executionId: 'ex-term', nodeId: 'n1' } } });
    expect(nodeRun.status).toBe('CANCELLED');
    // A mirror write still in flight when the run was terminated cannot undo the reconciler.
    await mirror.mirrorTransitions({ executionId: 'ex-term', nodes: [node(9, 'SUCCEEDED')], run: { seq: 10, status: 'SUCCEEDED' } });
    expect((await t.db.execution.findUniqueOrThrow({ where: { id: 'ex-term' } })).status).toBe('CANCELLED');
    expect(await reconcileOnce({ db: t.db, temporal, graceMs: 1_000 })).toBe(0);
  });

  it('lets only one of several concurrent reconcilers work at a time', async () => {
    const temporal = new FakeTemporalGateway();
    const results = await Promise.all([1, 2, 3].map(() => reconcileOnce({ db: t.db, temporal, graceMs: 0 })));
    expect(results.filter((r) => r > 0).length).toBeLessThanOrEqual(1);
  });
});

describe('reconciler without a transaction across Temporal calls', () => {
  /** Transactions open on this test's database right now, other than the asking one. */
  const openTransactions = async () => {
    const [{ n }] = await t.db.$queryRaw<[{ n: number }]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`;
    return n;
  };

  it('holds no transaction while describe is slow, and a mirror write landing meanwhile wins', async () => {
    await mirror.recordRun({ ...base, executionId: 'ex-slow' });
    await mirror.mirrorTransitions({ executionId: 'ex-slow', nodes: [node(1, 'RUNNING')] });
    await t.db.execution.updateMany({ where: { id: 'ex-slow' }, data: { updatedAt: new Date(Date.now() - 60_000) } });

    let duringDescribe: { open: number; written: boolean } | undefined;
    const temporal = new (class extends FakeTemporalGateway {
      override async describe(executionId: string) {
        if (executionId !== 'ex-slow') return super.describe(executionId);
        await new Promise((resolve) => setTimeout(resolve, 300));
        // The workflow finishes while Temporal is slow to answer; its last write must go through, unblocked.
        await mirror.mirrorTransitions({
          executionId: 'ex-slow',
          nodes: [node(2, 'SUCCEEDED', { output: { ok: 1 }, finishedAt: new Date().toISOString() })],
          run: { seq: 3, status: 'SUCCEEDED', output: { n1: { ok: 1 } }, finishedAt: new Date().toISOString() },
        });
        duringDescribe = { open: await openTransactions(), written: true };
        // Temporal's (stale) answer says terminated: the reconciler must not overwrite the newer state.
        return { status: 'TERMINATED', closeTime: new Date() };
      }
    })();

    expect(await reconcileOnce({ db: t.db, temporal, graceMs: 1_000 })).toBe(0);
    expect(duringDescribe).toEqual({ open: 0, written: true });
    const run = await t.db.execution.findUniqueOrThrow({ where: { id: 'ex-slow' } });
    expect([run.status, run.lastSeq, run.output, run.error]).toEqual(['SUCCEEDED', 3, { n1: { ok: 1 } }, null]);
    const nodeRun = await t.db.nodeRun.findUniqueOrThrow({ where: { executionId_nodeId: { executionId: 'ex-slow', nodeId: 'n1' } } });
    expect([nodeRun.status, nodeRun.lastSeq]).toEqual(['SUCCEEDED', 2]);
  });

  it('gives up on a describe that hangs, without holding back the other rows', async () => {
    for (const id of ['ex-hang', 'ex-gone']) {
      await mirror.recordRun({ ...base, executionId: id });
      await mirror.mirrorTransitions({ executionId: id, nodes: [node(1, 'RUNNING')] });
    }
    await t.db.execution.updateMany({ where: { id: { in: ['ex-hang', 'ex-gone'] } }, data: { updatedAt: new Date(Date.now() - 60_000) } });
    const temporal = new (class extends FakeTemporalGateway {
      override async listedRun(executionId: string) {
        if (executionId === 'ex-hang') return new Promise<never>(() => {});
        if (executionId === 'ex-gone') return { status: 'TERMINATED', closeTime: new Date() };
        return super.listedRun(executionId);
      }
    })();
    const errors: unknown[] = [];
    const fixed = await reconcileOnce({ db: t.db, temporal, graceMs: 1_000, describeTimeoutMs: 200, onError: (err) => errors.push(err) });
    expect(fixed).toBe(1);
    expect(errors).toHaveLength(1);
    const rows = await t.db.execution.findMany({ where: { id: { in: ['ex-hang', 'ex-gone'] } }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => [r.id, r.status])).toEqual([
      ['ex-gone', 'CANCELLED'],
      ['ex-hang', 'RUNNING'],
    ]);
  });

  it('lets concurrent reconcilers claim different rows, each settled once', async () => {
    const ids = Array.from({ length: 6 }, (_, i) => `ex-many-${i}`);
    const temporal = new FakeTemporalGateway();
    for (const id of ids) {
      await mirror.recordRun({ ...base, executionId: id });
      temporal.descriptions.set(id, { status: 'TERMINATED', closeTime: new Date() });
    }
    await t.db.execution.updateMany({ where: { id: { in: ids } }, data: { updatedAt: new Date(Date.now() - 60_000) } });
    const results = await Promise.all([1, 2, 3].map(() => reconcileOnce({ db: t.db, temporal, graceMs: 1_000, batchSize: 2 })));
    expect(results.reduce((a, b) => a + b, 0)).toBe(6);
    expect(await t.db.execution.count({ where: { id: { in: ids }, status: 'CANCELLED' } })).toBe(6);
  });
});

describe('reconciler: visibility decides, and one process does it', () => {
  it('settles only what visibility lists as closed; a run it lists as running, or not yet, stays', async () => {
    const ids = ['ex-vis-closed', 'ex-vis-lagging', 'ex-vis-unlisted'];
    for (const id of ids) await mirror.recordRun({ ...base, executionId: id });
    await t.db.execution.updateMany({ where: { id: { in: ids } }, data: { updatedAt: new Date(Date.now() - 60_000) } });
    const closedAt = new Date(Date.now() - 5_000);
    const temporal = new (class extends FakeTemporalGateway {
      override async listedRun(executionId: string) {
        if (executionId === 'ex-vis-closed') return { status: 'COMPLETED', closeTime: closedAt };
        if (executionId === 'ex-vis-lagging') return { status: 'RUNNING' }; // history says closed, visibility not yet
        return undefined;
      }
      override async describe() {
        return { status: 'TERMINATED', closeTime: new Date() };
      }
    })();
    expect(await reconcileOnce({ db: t.db, temporal, graceMs: 1_000, lostAfterMs: 0 })).toBe(1);
    const rows = await t.db.execution.findMany({ where: { id: { in: ids } }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => [r.id, r.status])).toEqual([
      ['ex-vis-closed', 'SUCCEEDED'],
      ['ex-vis-lagging', 'RUNNING'],
      ['ex-vis-unlisted', 'RUNNING'], // listed nowhere yet, but its history exists: not lost
    ]);
    expect(rows[0]!.finishedAt?.getTime()).toBe(closedAt.getTime());
  });

  it('runs in exactly one of several processes (a session advisory lock); another takes over when it stops', async () => {
    const id = 'ex-leader';
    const temporal = new FakeTemporalGateway();
    let calls = 0;
    const counting = new (class extends FakeTemporalGateway {
      override async listedRun(executionId: string) {
        calls++;
        return temporal.listedRun(executionId);
      }
    })();
    await mirror.recordRun({ ...base, executionId: id });
    const reconcilers = [1, 2, 3].map(() => startReconciler({ db: t.db, temporal: counting, graceMs: 0, intervalMs: 50, leaderLockUrl: t.url }));
    try {
      await until(() => reconcilers.some((r) => r.isLeader()));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(reconcilers.filter((r) => r.isLeader())).toHaveLength(1);
      const leader = reconcilers.findIndex((r) => r.isLeader());
      await reconcilers[leader]!.stop();
      const rest = reconcilers.filter((_, i) => i !== leader);
      await until(() => rest.some((r) => r.isLeader()));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(rest.filter((r) => r.isLeader())).toHaveLength(1);
      // The one that took over works: a run Temporal closed is settled.
      temporal.descriptions.set(id, { status: 'TERMINATED', closeTime: new Date() });
      await until(async () => (await t.db.execution.findUniqueOrThrow({ where: { id } })).status === 'CANCELLED');
      expect(calls).toBeGreaterThan(0);
    } finally {
      await Promise.all(reconcilers.map((r) => r.stop()));
    }
  });
});

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
