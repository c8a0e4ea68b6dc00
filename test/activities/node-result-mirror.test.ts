import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { NodeResultMirror } from '../../src/activities/node-result-mirror';
import { createMirrorActivities } from '../../src/activities/mirror';
import { createApiKey } from '../../src/services/api-keys';
import { ExecutionEventHub, type ExecutionEventNotice } from '../../src/persistence/execution-event-hub';
import type { NodeActivityInput } from '../../src/contracts/node-activity';
import { createDb } from '../../src/db/client';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { seedExecution, seedWorkflow } from '../support/executions';

let t: TestDatabase;
let tenantId: string;
beforeAll(async () => {
  t = await createTestDatabase();
  ({ tenantId } = await createApiKey(t.db, 'acme'));
});
afterAll(async () => t?.drop());

const input = (executionId: string, seq: number | undefined, nodeId = 'a'): NodeActivityInput => ({
  nodeId,
  executionId,
  config: {},
  ...(seq !== undefined && { mirror: { seq, type: 'http', startedAt: '2026-01-01T00:00:00.000Z' } }),
});
const row = (executionId: string, nodeId = 'a') =>
  t.db.nodeRun.findUnique({ where: { executionId_nodeId: { executionId, nodeId } } });

describe('node activities writing their own result to the mirror', () => {
  it('writes SUCCEEDED with the reserved seq as the activity returns, and notifies', async () => {
    const executionId = await seedExecution(t.db, { tenantId, workflowId: await seedWorkflow(t.db, tenantId) });
    const hub = new ExecutionEventHub();
    await hub.start(t.url);
    const heard: ExecutionEventNotice[] = [];
    hub.subscribe(executionId, (notice) => heard.push(notice));
    const results = new NodeResultMirror(t.db);
    const activity = results.wrap({ http: async () => ({ output: { ok: '\0' }, attempt: 2 }) }).http!;
    try {
      expect(await activity(input(executionId, 4))).toEqual({ output: { ok: '\0' }, attempt: 2 });
      await results.idle();
      const written = await row(executionId);
      expect([written?.status, written?.attempt, written?.lastSeq, written?.output, written?.type]).toEqual(['SUCCEEDED', 2, 4, { ok: '\uFFFD' }, 'http']);
      expect(written?.startedAt?.toISOString()).toBe('2026-01-01T00:00:00.000Z');
      await expect.poll(() => heard).toContainEqual({ executionId, seq: 4 });
    } finally {
      await hub.close();
    }
  });

  it("never overwrites the workflow's write of the same or a newer seq; the workflow's equal write does overwrite", async () => {
    const executionId = await seedExecution(t.db, { tenantId, workflowId: await seedWorkflow(t.db, tenantId) });
    const mirror = createMirrorActivities(t.db);
    const finishedAt = '2026-01-01T00:00:01.000Z';
    const results = new NodeResultMirror(t.db);
    const activity = results.wrap({ http: async () => ({ output: 'from activity', attempt: 1 }) }).http!;

    // The workflow was first (its write carries Temporal's timestamps): the activity's is a no-op.
    await mirror.mirrorTransitions({ executionId, nodes: [{ seq: 3, nodeId: 'a', type: 'http', status: 'SUCCEEDED', attempt: 1, output: 'from workflow', finishedAt }] });
    await activity(input(executionId, 3));
    await results.idle();
    expect((await row(executionId))?.output).toBe('from workflow');

    // The activity was first: the workflow's write of the same seq replaces it.
    await activity(input(executionId, 5, 'b'));
    await results.idle();
    expect((await row(executionId, 'b'))?.output).toBe('from activity');
    await mirror.mirrorTransitions({ executionId, nodes: [{ seq: 5, nodeId: 'b', type: 'http', status: 'SUCCEEDED', attempt: 1, output: 'from activity', finishedAt }] });
    expect((await row(executionId, 'b'))?.finishedAt?.toISOString()).toBe(finishedAt);
  });

  it('writes nothing for runs that are not mirrored, or without a ticket', async () => {
    const results = new NodeResultMirror(t.db);
    const activity = results.wrap({ http: async () => ({ output: 1, attempt: 1 }) }).http!;
    await activity(input('ex-not-mirrored', 2));
    const executionId = await seedExecution(t.db, { tenantId, workflowId: await seedWorkflow(t.db, tenantId) });
    await activity(input(executionId, undefined));
    await results.idle();
    expect(await t.db.nodeRun.count({ where: { executionId: { in: ['ex-not-mirrored', executionId] } } })).toBe(0);
  });

  it('writes nothing into a run that has already ended (a late result after the reconciler settled it)', async () => {
    const executionId = await seedExecution(t.db, { tenantId, workflowId: await seedWorkflow(t.db, tenantId), status: 'CANCELLED' });
    const results = new NodeResultMirror(t.db);
    const activity = results.wrap({ http: async () => ({ output: 'late', attempt: 1 }) }).http!;
    await activity(input(executionId, 9));
    await results.idle();
    expect(await row(executionId)).toBeNull();
  });

  it('writes ahead only while the worker serves few runs; never says mirrored, even for a confirm ticket', async () => {
    const workflowId = await seedWorkflow(t.db, tenantId);
    const results = new NodeResultMirror(t.db);
    const activity = results.wrap({ http: async () => ({ output: { v: 1 }, attempt: 1 }) }).http!;
    const confirm = (id: string, seq: number, nodeId = 'a'): NodeActivityInput => ({ ...input(id, seq, nodeId), mirror: { ...input(id, seq).mirror!, confirm: true } });
    // A confirm ticket (runs recorded while activities confirmed) gets a plain result: the workflow writes the state.
    const [first, ...runs] = await Promise.all(Array.from({ length: 9 }, () => seedExecution(t.db, { tenantId, workflowId })));
    expect(await activity(confirm(first!, 3))).toEqual({ output: { v: 1 }, attempt: 1 });
    await results.idle();
    expect((await row(first!))?.lastSeq).toBe(3);
    // Results of many runs within a second (a loaded worker): the first few runs' are written
    // ahead, the others are left to the workflow's write, which shares its commit with the next RUNNING.
    for (const id of runs) expect(await activity(input(id, 2))).toEqual({ output: { v: 1 }, attempt: 1 });
    await results.idle();
    const written = await t.db.nodeRun.count({ where: { executionId: { in: runs } } });
    // Four runs in the window: `first` and three of these (four if `first` left the window meanwhile).
    expect(written).toBeGreaterThanOrEqual(3);
    expect(written).toBeLessThanOrEqual(4);
  });

  it('never fails or delays the node when Postgres is unreachable', async () => {
    const unreachable = createDb('postgresql://nobody:x@127.0.0.1:1/none');
    const errors: unknown[] = [];
    const results = new NodeResultMirror(unreachable, (err) => errors.push(err));
    const activity = results.wrap({ http: async () => ({ output: 1, attempt: 1 }) }).http!;
    try {
      expect(await activity(input('ex-x', 2))).toEqual({ output: 1, attempt: 1 });
      expect(await activity(input('ex-x', 3, 'b'))).toEqual({ output: 1, attempt: 1 });
      await results.idle();
      expect(errors).toHaveLength(1); // reported once a minute, not once per node
    } finally {
      await unreachable.$disconnect();
    }
  });

  describe('failed attempts', () => {
    const attempts = (executionId: string) =>
      t.db.nodeAttempt.findMany({ where: { executionId }, orderBy: [{ nodeId: 'asc' }, { attempt: 'asc' }] });
    const failing = (type: string, message: string, attempt: number) => async () => {
      throw ApplicationFailure.create({ type, message, details: [{ attempt }] });
    };

    it('keeps each failed attempt with its type, message and time, and rethrows the failure unchanged', async () => {
      const executionId = await seedExecution(t.db, { tenantId, workflowId: await seedWorkflow(t.db, tenantId) });
      const results = new NodeResultMirror(t.db);
      const before = Date.now();
      for (const attempt of [1, 2]) {
        const activity = results.wrap({ http: failing('HttpServerError', `HTTP 503 on attempt ${attempt}`, attempt) }).http!;
        const err = await activity(input(executionId, undefined)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ApplicationFailure);
        expect((err as ApplicationFailure).message).toBe(`HTTP 503 on attempt ${attempt}`);
      }
      await results.idle();
      const rows = await attempts(executionId);
      expect(rows.map((r) => [r.nodeId, r.attempt, r.errorType, r.message])).toEqual([
        ['a', 1, 'HttpServerError', 'HTTP 503 on attempt 1'],
        ['a', 2, 'HttpServerError', 'HTTP 503 on attempt 2'],
      ]);
      expect(rows[0]!.failedAt.getTime()).toBeGreaterThanOrEqual(before - 5);
    });

    it('keeps the last 20 per node, cuts long messages and stores NUL-bearing text', async () => {
      const executionId = await seedExecution(t.db, { tenantId, workflowId: await seedWorkflow(t.db, tenantId) });
      const results = new NodeResultMirror(t.db);
      for (let attempt = 1; attempt <= 25; attempt++) {
        const message = attempt === 25 ? `x\0${'y'.repeat(10_000)}` : `failure ${attempt}`;
        await results.wrap({ http: failing('Boom', message, attempt) }).http!(input(executionId, undefined)).catch(() => {});
        if (attempt % 5 === 0) await results.idle(); // several statements, as a real retry schedule writes them
      }
      await results.idle();
      const rows = await attempts(executionId);
      expect(rows.map((r) => r.attempt)).toEqual(Array.from({ length: 20 }, (_, i) => i + 6));
      const last = rows.at(-1)!;
      expect(last.message.length).toBe(4_000);
      expect(last.message.startsWith('x\uFFFDy')).toBe(true);
    });

    it('keeps nothing for runs that are not mirrored, and never fails the node when the write fails', async () => {
      const results = new NodeResultMirror(t.db);
      await results.wrap({ http: failing('Boom', 'no run row', 1) }).http!(input('ex-no-row', undefined)).catch(() => {});
      await results.idle();
      expect(await t.db.nodeAttempt.count({ where: { executionId: 'ex-no-row' } })).toBe(0);

      const unreachable = createDb('postgresql://nobody:x@127.0.0.1:1/none');
      const errors: unknown[] = [];
      const offline = new NodeResultMirror(unreachable, (err) => errors.push(err));
      try {
        const err = await offline.wrap({ http: failing('Boom', 'still this error', 1) }).http!(input('ex-x', undefined)).catch((e: unknown) => e);
        expect((err as ApplicationFailure).message).toBe('still this error');
        await offline.idle();
        expect(errors).toHaveLength(1);
      } finally {
        await unreachable.$disconnect();
      }
    });
  });
});
