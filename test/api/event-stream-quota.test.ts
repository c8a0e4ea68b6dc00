import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { ExecutionEventHub } from '../../src/persistence/execution-event-hub';
import { setTenantQuotas } from '../../src/services/quotas';
import { RETRY_POLL_MS } from '../../src/services/live-poller';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { seedExecution, seedWorkflow } from '../support/executions';
import { SseClient, consoleReads, until } from '../support/sse-client';

/** STREAMS (open event streams per tenant and API process) and the one Temporal poll per run they share. */
let database: TestDatabase;
let hub: ExecutionEventHub;
let app: FastifyInstance;
let base: string;
let key: string;
let otherKey: string;
let acme: string;
let globex: string;
const temporal = new FakeTemporalGateway();
const describeCalls: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  hub = new ExecutionEventHub({ heartbeatMs: 60_000 });
  await hub.start(database.url);
  // Count every describe the route makes, through the fake gateway.
  const describe = temporal.describe.bind(temporal);
  temporal.describe = (executionId) => {
    describeCalls.push(executionId);
    return describe(executionId);
  };
  app = await buildApp({ db: database.db, temporal, catalog: createNodeRegistry().catalog(), events: hub });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  ({ key, tenantId: acme } = await createApiKey(database.db, 'acme'));
  ({ key: otherKey, tenantId: globex } = await createApiKey(database.db, 'globex'));
});
afterAll(async () => {
  await app?.close();
  await hub?.close();
  await database?.drop();
});

const connect = (executionId: string, apiKey = key) => SseClient.open(`${base}/executions/${executionId}/events`, { authorization: `Bearer ${apiKey}` });

async function run(tenantId: string): Promise<string> {
  return seedExecution(database.db, { tenantId, workflowId: await seedWorkflow(database.db, tenantId) });
}

describe('STREAMS', () => {
  it('refuses the stream past the limit with 429 before it opens; closing one makes room; other tenants are unaffected', async () => {
    await setTenantQuotas(database.db, 'acme', { STREAMS: 2 });
    const id = await run(acme);
    const open = [await connect(id), await connect(id)];
    expect(open.map((c) => c.status)).toEqual([200, 200]);
    const refused = await connect(id);
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({
      error: { code: 'QUOTA_EXCEEDED', message: expect.stringContaining('quota STREAMS exceeded'), details: { quota: 'STREAMS', limit: 2, used: 2 } },
    });
    // The streams already open keep running.
    expect(open.every((c) => !c.ended)).toBe(true);
    const theirs = await connect(await run(globex), otherKey);
    expect(theirs.status).toBe(200);
    theirs.close();

    open[0]!.close();
    let again: SseClient | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      again?.close();
      again = await connect(id);
      if (again.status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(again?.status).toBe(200);
    again!.close();
    open[1]!.close();
    await setTenantQuotas(database.db, 'acme', { STREAMS: null });
  });
});

describe('one Temporal poll per run', () => {
  it('asks Temporal once per period for N streams of one run, fans the retry state out to all, and stops with the last stream', async () => {
    const id = await run(acme);
    temporal.descriptions.set(id, {
      status: 'RUNNING',
      pendingActivities: [{ activityId: 'fetch', state: 'SCHEDULED', attempt: 3, maximumAttempts: 5, lastFailure: { message: 'HTTP 503', type: 'HttpError' } }],
    });
    const clients = await Promise.all(Array.from({ length: 12 }, () => connect(id)));
    expect(clients.every((c) => c.status === 200)).toBe(true);
    describeCalls.length = 0;
    // Every stream gets the retry event from the shared poll.
    await until(() => clients.every((c) => c.frames.some((f) => f.event === 'retry')), RETRY_POLL_MS * 3);
    for (const c of clients) {
      const retry = c.frames.find((f) => f.event === 'retry')!;
      expect(JSON.parse(retry.data!)).toMatchObject({ nodeId: 'fetch', attempt: 3, maximumAttempts: 5, lastFailure: { message: 'HTTP 503' } });
      const { read, sent } = consoleReads(c.frames);
      expect(read).toEqual(sent);
    }
    const start = describeCalls.length;
    await new Promise((resolve) => setTimeout(resolve, RETRY_POLL_MS * 2 + 200));
    const periods = describeCalls.length - start;
    // Two periods passed: about two describes for the run, not two per stream (24).
    expect(periods).toBeGreaterThanOrEqual(1);
    expect(periods).toBeLessThanOrEqual(3);
    expect(new Set(describeCalls)).toEqual(new Set([id]));
    // An unchanged state is not sent twice.
    expect(clients[0]!.frames.filter((f) => f.event === 'retry')).toHaveLength(1);

    for (const c of clients) c.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const afterClose = describeCalls.length;
    await new Promise((resolve) => setTimeout(resolve, RETRY_POLL_MS + 300));
    expect(describeCalls.length).toBe(afterClose);
  }, 20_000);
});
