import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { createMapItemsActivities } from '../../src/activities/map-items-mirror';
import { createMirrorActivities } from '../../src/activities/mirror';
import { createApiKey } from '../../src/services/api-keys';
import { ExecutionEventHub } from '../../src/persistence/execution-event-hub';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';
import { seedExecution, seedWorkflow } from '../support/executions';
import { SseClient, consoleReads } from '../support/sse-client';

let database: TestDatabase;
let hub: ExecutionEventHub;
let app: FastifyInstance;
let base: string;
let key: string;
let acme: string;

beforeAll(async () => {
  database = await createTestDatabase();
  hub = new ExecutionEventHub({ heartbeatMs: 60_000 });
  await hub.start(database.url);
  app = await buildApp({ db: database.db, temporal: new FakeTemporalGateway(), catalog: createNodeRegistry().catalog(), events: hub });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  ({ key, tenantId: acme } = await createApiKey(database.db, 'acme'));
});
afterAll(async () => {
  await app?.close();
  await hub?.close();
  await database?.drop();
});

describe('GET /executions/:id/events: map item counts', () => {
  it('sends the counts of a map node at most once per interval, however many batches land, without an id', async () => {
    const workflowId = await seedWorkflow(database.db, acme);
    const id = await seedExecution(database.db, { tenantId: acme, workflowId });
    const client = await SseClient.open(`${base}/executions/${id}/events`, { authorization: `Bearer ${key}` });
    expect((await client.next()).event).toBe('snapshot');

    const { recordMapItems } = createMapItemsActivities(database.db);
    const started = Date.now();
    for (let batch = 0; batch < 4; batch++) {
      const items = Array.from({ length: 50 }, (_, k) => ({ index: batch * 50 + k, status: k === 0 ? ('FAILED' as const) : ('SUCCEEDED' as const), attempt: 1 }));
      await recordMapItems({ executionId: id, nodeId: 'each', items });
    }
    const writing = Date.now() - started;
    let last: unknown;
    for (;;) {
      const event = await client.next({ timeoutMs: 5_000 });
      expect(event.event).toBe('items');
      expect(event.id).toBeUndefined();
      last = JSON.parse(event.data!);
      if ((last as { counts: { recorded: number } }).counts.recorded === 200) break;
    }
    expect(last).toEqual({ nodeId: 'each', counts: { recorded: 200, succeeded: 196, failed: 4, cancelled: 0 } });

    await createMirrorActivities(database.db).mirrorTransitions({
      executionId: id,
      nodes: [],
      run: { seq: 1, status: 'SUCCEEDED', finishedAt: '2030-01-01T00:00:00.000Z' },
    });
    expect((await client.next()).event).toBe('run');
    await client.closed();
    // Throttled: one items event per interval the writes spanned (normally one for all four batches), not one per batch.
    expect(client.frames.filter((f) => f.event === 'items').length).toBeLessThanOrEqual(1 + Math.ceil(writing / 1_000));
    const { read, sent } = consoleReads(client.frames);
    expect(read).toEqual(sent);
  });
});
