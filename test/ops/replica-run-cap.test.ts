import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { createDb, type Db } from '../../src/db/client';
import { createApiKey } from '../../src/services/api-keys';
import { executionAdmissionFor } from '../../src/services/executions';
import { PrismaExecutionLimiter } from '../../src/persistence/definition-store';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { seedWorkflow } from '../support/executions';

/**
 * TRELLIS_MAX_RUNNING_PER_TENANT across replicas: two API servers listening on loopback, each
 * with its own connection pool (as two processes have), on one database, plus worker-side
 * reservations (the path schedules, subworkflows and external clients take).
 */
const CAP = 5;

let database: TestDatabase;
const replicas: { app: FastifyInstance; db: Db; url: string }[] = [];
let key: string;
let tenantId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ key, tenantId } = await createApiKey(database.db, 'capped'));
  for (let i = 0; i < 2; i++) {
    const db = createDb(database.url, { max: 5 });
    const app = await buildApp({
      db,
      temporal: new FakeTemporalGateway(),
      catalog: createNodeRegistry().catalog(),
      executionAdmission: executionAdmissionFor(db, { maxRunning: () => CAP }),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    replicas.push({ app, db, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` });
  }
});

afterAll(async () => {
  for (const r of replicas) {
    await r.app.close();
    await r.db.$disconnect();
  }
  await database?.drop();
});

const running = () => database.db.execution.count({ where: { tenantId, status: 'RUNNING' } });
const finishAll = () => database.db.execution.updateMany({ where: { tenantId, status: 'RUNNING' }, data: { status: 'SUCCEEDED', finishedAt: new Date() } });

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: { error?: { code?: string } } }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { error?: { code?: string } } };
}

describe('the per-tenant run cap with two API replicas on one database', () => {
  it('admits exactly the cap out of 20 starts raced across both replicas', async () => {
    const workflowId = await seedWorkflow(database.db, tenantId);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(`${replicas[i % 2]!.url}/executions`, { workflowId }, { authorization: `Bearer ${key}` })),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([...Array(CAP).fill(202), ...Array(20 - CAP).fill(429)]);
    expect(answers.filter((a) => a.status === 429).every((a) => a.body.error?.code === 'TOO_MANY_RUNS')).toBe(true);
    expect(await running()).toBe(CAP);
    await finishAll();
  });

  it('counts webhooks and worker reservations (schedule, child, external starts) in the same cap', async () => {
    const workflowId = await seedWorkflow(database.db, tenantId);
    const token = (await replicas[0]!.app.inject({ method: 'POST', url: `/workflows/${workflowId}/hook-token`, headers: { authorization: `Bearer ${key}` } })).json().token as string;
    const limiter = new PrismaExecutionLimiter(createDbFor(), CAP);
    const api = Array.from({ length: 6 }, (_, i) => post(`${replicas[i % 2]!.url}/executions`, { workflowId }, { authorization: `Bearer ${key}` }).then((a) => a.status === 202));
    const hooks = Array.from({ length: 6 }, (_, i) => post(`${replicas[(i + 1) % 2]!.url}/hooks/${workflowId}/${token}`, { i }).then((a) => a.status === 202));
    const reservations = Array.from({ length: 8 }, (_, i) =>
      limiter.admit({ executionId: `ex_sch_race-${i}`, temporalRunId: `run-${i}`, tenantId, workflowId, version: 1 }).then((s) => s.admitted),
    );
    const admitted = (await Promise.all([...api, ...hooks, ...reservations])).filter(Boolean).length;
    expect(admitted).toBe(CAP);
    expect(await running()).toBe(CAP);

    // A reservation is idempotent: a retried loadDefinition of an admitted run is admitted again, at the cap.
    const held = await database.db.execution.findFirst({ where: { tenantId, status: 'RUNNING', id: { startsWith: 'ex_sch_race-' } } });
    if (held) {
      await expect(limiter.admit({ executionId: held.id, temporalRunId: 'again', tenantId, workflowId, version: 1 })).resolves.toEqual({ admitted: true });
    }
    await expect(limiter.admit({ executionId: 'ex_sch_over', temporalRunId: 'r', tenantId, workflowId, version: 1 })).resolves.toEqual({
      admitted: false,
      running: CAP,
      limit: CAP,
    });
    await finishAll();
  });
});

const extraDbs: Db[] = [];
/** A third pool: the worker's. */
function createDbFor(): Db {
  const db = createDb(database.url, { max: 5 });
  extraDbs.push(db);
  return db;
}
afterAll(async () => {
  for (const db of extraDbs) await db.$disconnect();
});
