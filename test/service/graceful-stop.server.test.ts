import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAG_WORKFLOW_TYPE, type DagRunResult } from '../../src/contracts/dag-workflow';
import { RETENTION_SCHEDULE_ID } from '../../src/contracts/retention';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { createApiKey } from '../../src/services/api-keys';
import type { dagWorkflow } from '../../src/workflows';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { prebuiltWorkflowBundle, sleep, spawnUntil, waitFor, type FaultProcess } from '../support/fault-process';
import { connectTestServer, type ServerEnv } from '../support/temporal';

/*
 * DESIGN §7, graceful stop: a real `trellis worker` process runs a run whose http node calls a
 * loopback target that answers after 4 s; the worker gets SIGTERM 1 s into the call. Asserted:
 * the target received the call exactly once; the stopping worker (by its Temporal identity)
 * recorded the attempt's completion with the target's answer before it exited, within
 * TRELLIS_WORKER_SHUTDOWN_GRACE, and it exited 0; a second worker then finishes the run without
 * calling the target again, and the mirror shows the node SUCCEEDED with that answer.
 */
const BIN = path.join(__dirname, '..', '..', 'bin', 'trellis.js');
const ANSWER_AFTER_MS = 4_000;
const SIGTERM_AFTER_MS = 1_000;
const GRACE = '20s';

let server: ServerEnv | undefined;
let database: TestDatabase | undefined;
let bundle: string | undefined;
let target: http.Server | undefined;
const calls: { at: number; body: string }[] = [];
const taskQueue = `trellis-graceful-${randomUUID()}`;
const workers: FaultProcess[] = [];
let handle: WorkflowHandle<typeof dagWorkflow> | undefined;

beforeAll(async () => {
  server = await connectTestServer('graceful worker stop');
  if (!server) return;
  database = await createTestDatabase();
  bundle = await prebuiltWorkflowBundle();
  target = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      calls.push({ at: Date.now(), body });
      const n = calls.length;
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ charged: true, call: n }));
      }, ANSWER_AFTER_MS);
    });
  });
  await new Promise<void>((resolve) => target!.listen(0, '127.0.0.1', resolve));
}, 180_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await handle?.terminate('test over').catch(() => undefined);
  await server?.env.client.schedule.getHandle(`${RETENTION_SCHEDULE_ID}-${taskQueue}`).delete().catch(() => undefined);
  target?.closeAllConnections();
  await new Promise<void>((resolve) => (target ? target.close(() => resolve()) : resolve()));
  await database?.drop();
  if (bundle) await fs.rm(bundle, { force: true });
  await server?.env.teardown();
}, 60_000);

function startWorker(): Promise<FaultProcess> {
  return spawnUntil(
    'trellis worker',
    [BIN, 'worker'],
    {
      DATABASE_URL: database!.url,
      TEMPORAL_ADDRESS: server!.env.address,
      TEMPORAL_NAMESPACE: server!.env.namespace ?? 'default',
      TRELLIS_TASK_QUEUE: taskQueue,
      TRELLIS_WORKFLOW_BUNDLE: bundle!,
      TRELLIS_HTTP_ALLOW_LOOPBACK: 'true',
      TRELLIS_WORKER_SHUTDOWN_GRACE: GRACE,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    },
    (output) => output.includes('"worker started"'),
    120_000,
  ).then((worker) => {
    workers.push(worker);
    return worker;
  });
}

const exitOf = (worker: FaultProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) {
      resolve({ code: worker.child.exitCode, signal: worker.child.signalCode, at: Date.now() });
    } else worker.child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });

describe('SIGTERM of a worker during a 4 s node', () => {
  it('lets the in-flight attempt finish and report once, then exits 0', async (ctx) => {
    if (!server || !database) return ctx.skip();
    const { db } = database;
    const { tenantId } = await createApiKey(db, 'acme');
    const url = `http://127.0.0.1:${(target!.address() as AddressInfo).port}/charge`;
    const definition: WorkflowDefinition = {
      name: 'charge-once',
      nodes: [{ id: 'charge', type: 'http', config: { method: 'POST', url, body: { amount: 42 }, timeoutMs: 30_000 } }],
    };
    await db.workflow.create({ data: { id: 'wf_charge', tenantId, name: definition.name, latestVersion: 1 } });
    await db.workflowVersion.create({ data: { workflowId: 'wf_charge', version: 1, definition: definition as object } });

    const first = await startWorker();
    const firstExit = exitOf(first);
    handle = await server.env.client.workflow.start<typeof dagWorkflow>(DAG_WORKFLOW_TYPE, {
      taskQueue,
      workflowId: `graceful-${randomUUID()}`,
      args: [{ workflowId: 'wf_charge', input: {} }],
    });
    await waitFor('the target to receive the call', async () => calls.length > 0, 60_000, 20);
    await sleep(SIGTERM_AFTER_MS);
    const sigtermAt = Date.now();
    first.child.kill('SIGTERM');
    const exit = await firstExit;
    const printed = first.output.join('');
    expect(exit, printed).toMatchObject({ code: 0, signal: null });
    // It waited for the answer (3 s more) and left well inside the grace.
    expect(exit.at - sigtermAt, printed).toBeGreaterThanOrEqual(ANSWER_AFTER_MS - SIGTERM_AFTER_MS - 250);
    expect(exit.at - sigtermAt, printed).toBeLessThan(15_000);
    expect(printed).toContain('in-flight node attempts have 20000 ms to finish');
    expect(printed).toContain('"worker stopped"');

    // Temporal heard the completion from the stopping worker: one attempt, started and completed by it.
    const identity = `${first.child.pid}@`;
    const events = (await handle.fetchHistory()).events ?? [];
    const started = events.filter((e) => e.activityTaskStartedEventAttributes);
    const completed = events.filter((e) => e.activityTaskCompletedEventAttributes);
    const nodeScheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'http');
    expect(nodeScheduled).toHaveLength(1);
    const scheduledId = Number(nodeScheduled[0]!.eventId);
    const nodeStarted = started.filter((e) => Number(e.activityTaskStartedEventAttributes!.scheduledEventId) === scheduledId);
    const nodeCompleted = completed.filter((e) => Number(e.activityTaskCompletedEventAttributes!.scheduledEventId) === scheduledId);
    expect(nodeStarted).toHaveLength(1);
    expect(nodeStarted[0]!.activityTaskStartedEventAttributes!.attempt).toBe(1);
    expect(nodeCompleted).toHaveLength(1);
    expect(nodeCompleted[0]!.activityTaskCompletedEventAttributes!.identity).toMatch(new RegExp(`^${identity}`));
    const payload = nodeCompleted[0]!.activityTaskCompletedEventAttributes!.result?.payloads?.[0]?.data;
    const result = JSON.parse(Buffer.from(payload ?? []).toString()) as { output: { status: number; body: unknown }; attempt: number };
    expect(result).toMatchObject({ attempt: 1, output: { status: 200, body: { charged: true, call: 1 } } });
    const completedAt = Number(nodeCompleted[0]!.eventTime?.seconds ?? 0) * 1000 + Math.floor((nodeCompleted[0]!.eventTime?.nanos ?? 0) / 1e6);
    expect(completedAt).toBeGreaterThan(sigtermAt - 1_000); // recorded after SIGTERM (clock skew: none, same machine)

    // A second worker finishes the run from that recorded result: the target is not called again.
    const second = await startWorker();
    const outcome: DagRunResult = await handle.result();
    expect(outcome.status).toBe('SUCCEEDED');
    expect(calls).toHaveLength(1);
    expect(JSON.parse(calls[0]!.body)).toEqual({ amount: 42 });
    const row = await waitFor(
      'the mirror to show the run finished',
      async () => {
        const execution = await db.execution.findUnique({ where: { id: handle!.workflowId }, include: { nodeRuns: true } });
        return execution?.status === 'SUCCEEDED' && execution;
      },
      30_000,
    );
    expect(row.nodeRuns).toHaveLength(1);
    expect(row.nodeRuns[0]).toMatchObject({ nodeId: 'charge', status: 'SUCCEEDED', attempt: 1, output: { status: 200, body: { charged: true, call: 1 } } });
    await second.stop();
    expect(second.child.exitCode).toBe(0);
  }, 240_000);
});
