import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { createApiKey } from '../../src/services/api-keys';
import { DAG_WORKFLOW_TYPE } from '../../src/contracts/dag-workflow';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { freePort, sleep, spawnReady, waitFor, type FaultProcess } from '../support/fault-process';
import { connectTestServer, type ServerEnv } from '../support/temporal';

/*
 * A burst of 200 POST /executions, each with its own idempotency key, 20 in flight at a time,
 * against the API in a child process that is SIGKILLed twice mid-burst and restarted on the same
 * port. The client behaves like a real one: any network error or 5xx → wait and send the same
 * request again, until it gets a 202. Asserted:
 *  - exactly one execution row per key, and its id is the id the client was given;
 *  - every acknowledged id is a dagWorkflow in Temporal (describe) on this test's task queue,
 *    started with that row's workflow and input;
 *  - Temporal visibility lists exactly one run per execution id: no duplicate runs, nothing
 *    acknowledged and lost (no orphans either: the API writes the row before it starts the run);
 *  - asking again with each key after the burst answers 202 with the same id.
 * No worker polls the queue; the runs are terminated at the end.
 */
const BURST = 200;
const CONCURRENCY = 20;
const KILL_AFTER = [50, 120]; // acknowledgements before each SIGKILL

let server: ServerEnv | undefined;
let database: TestDatabase | undefined;
let api: FaultProcess | undefined;
const taskQueue = `trellis-fault-api-${randomUUID()}`;
const acked = new Map<string, string>(); // key → execution id

beforeAll(async () => {
  server = await connectTestServer('api-restart fault tests');
  if (!server) return;
  database = await createTestDatabase();
});
afterAll(async () => {
  await api?.kill();
  if (server) {
    await Promise.all(
      [...acked.values()].map((id) => server!.env.client.workflow.getHandle(id).terminate('fault test cleanup').catch(() => undefined)),
    );
  }
  await database?.drop();
  await server?.env.teardown();
}, 120_000);

describe('SIGKILL of the API process during a burst of starts', () => {
  it(`${BURST} idempotent starts across two API kills: no duplicate runs, no lost acknowledged run`, async (ctx) => {
    if (!server || !database) return ctx.skip();
    const { db } = database;
    const { key: apiKey, tenantId } = await createApiKey(db, 'acme');
    const definition = { name: 'burst', nodes: [{ id: 'only', type: 'noop' }] };
    await db.workflow.create({ data: { id: 'wf_burst', tenantId, name: 'burst', latestVersion: 1 } });
    await db.workflowVersion.create({ data: { workflowId: 'wf_burst', version: 1, definition } });

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const startApi = () =>
      spawnReady('test/support/fault-api.ts', {
        DATABASE_URL: database!.url,
        TEMPORAL_ADDRESS: server!.env.address,
        TRELLIS_TASK_QUEUE: taskQueue,
        PORT: String(port),
      });
    api = await startApi();

    const post = (key: string, i: number) =>
      fetch(`${base}/executions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ workflowId: 'wf_burst', input: { i }, idempotencyKey: key }),
      });
    let retries = 0;
    const failures: string[] = [];
    const retriedKeys = new Set<string>();
    const startOne = async (key: string, i: number): Promise<string> => {
      for (let attempt = 0; ; attempt++) {
        if (attempt > 0) retriedKeys.add(key);
        try {
          const res = await post(key, i);
          const body = (await res.json()) as { id?: string };
          if (res.status === 202 && body.id) return body.id;
          if (res.status < 500) throw new Error(`${key}: ${res.status} ${JSON.stringify(body)}`);
          failures.push(`${res.status}`);
        } catch (err) {
          if (err instanceof Error && err.message.startsWith(key)) throw err;
          failures.push(err instanceof Error ? String((err.cause as Error | undefined)?.message ?? err.message) : String(err));
        }
        retries++;
        await sleep(100);
      }
    };

    const keys = Array.from({ length: BURST }, (_, i) => `burst-${i}-${randomUUID()}`);
    let next = 0;
    const clients = Array.from({ length: CONCURRENCY }, async () => {
      while (next < keys.length) {
        const i = next++;
        acked.set(keys[i]!, await startOne(keys[i]!, i));
      }
    });
    const killer = (async () => {
      for (const [n, threshold] of KILL_AFTER.entries()) {
        await waitFor(`${threshold} acknowledgements`, async () => acked.size >= threshold, 120_000, 5);
        await api!.kill();
        console.log(`api-restart: SIGKILL #${n + 1} after ${acked.size} acknowledgements`);
        api = await startApi();
      }
    })();
    await Promise.all([...clients, killer]);
    console.log(
      `api-restart: ${acked.size} acknowledged; ${retriedKeys.size} keys needed retries, ${retries} retries in all (${[...new Set(failures)].join(', ')})`,
    );
    expect(acked.size).toBe(BURST);

    // Postgres: one row per key, the acknowledged one.
    const rows = await db.execution.findMany({ where: { tenantId }, select: { id: true, idempotencyKey: true, status: true, input: true } });
    expect(rows).toHaveLength(BURST);
    expect(new Map(rows.map((r) => [r.idempotencyKey, r.id]))).toEqual(acked);
    expect(rows.filter((r) => r.status !== 'RUNNING')).toEqual([]);

    // Temporal: each acknowledged id is a dagWorkflow on our queue, started with that row's input.
    const inputs = new Map(rows.map((r) => [r.id, r.input]));
    for (const id of acked.values()) {
      const handle = server.env.client.workflow.getHandle(id);
      const described = await handle.describe().catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) throw new Error(`acknowledged run ${id} is not in Temporal`);
        throw err;
      });
      expect(described).toMatchObject({ type: DAG_WORKFLOW_TYPE, taskQueue, status: { name: 'RUNNING' } });
      const history = await handle.fetchHistory();
      const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
      const payload = started?.input?.payloads?.[0]?.data;
      const args = JSON.parse(Buffer.from(payload ?? []).toString()) as { workflowId: string; input: unknown };
      expect(args).toMatchObject({ workflowId: 'wf_burst', input: inputs.get(id) });
    }

    // Visibility (per workflow id: the dev server's standard visibility cannot filter by queue):
    // each execution id has exactly one run. Every run has a row, since the API writes the row first.
    for (const id of acked.values()) {
      const runs = await waitFor(
        `${id} in Temporal visibility`,
        async () => {
          const found: string[] = [];
          for await (const w of server!.env.client.workflow.list({ query: `WorkflowId = "${id}"` })) found.push(w.runId);
          return found.length > 0 && found;
        },
        30_000,
        250,
      );
      expect(runs, id).toHaveLength(1);
    }

    // The same key, asked again after the restarts, names the same run.
    for (const [n, key] of keys.slice(0, 20).entries()) {
      const res = await post(key, n);
      expect(res.status).toBe(202);
      expect(((await res.json()) as { id: string }).id).toBe(acked.get(key));
    }
  }, 300_000);
});
