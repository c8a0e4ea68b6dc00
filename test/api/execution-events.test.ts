import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { createMirrorActivities } from '../../src/activities/mirror';
import { createApiKey } from '../../src/services/api-keys';
import { ExecutionEventHub } from '../../src/persistence/execution-event-hub';
import type { NodeTransition } from '../../src/contracts/mirror';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';
import { seedExecution, seedWorkflow } from '../support/executions';
import { SseClient, type SseFrame, consoleReads, until } from '../support/sse-client';

let database: TestDatabase;
let hub: ExecutionEventHub;
let app: FastifyInstance;
let base: string;
let key: string;
let otherKey: string;
let acme: string;
let globex: string;
let mirror: ReturnType<typeof createMirrorActivities>;

const HEARTBEAT_MS = 100;

beforeAll(async () => {
  database = await createTestDatabase();
  // A short heartbeat for the heartbeat test; a backoff long enough to write while the hub is down.
  hub = new ExecutionEventHub({ heartbeatMs: HEARTBEAT_MS, minBackoffMs: 300 });
  await hub.start(database.url);
  app = await build(hub);
  base = await app.listen({ port: 0, host: '127.0.0.1' });
  ({ key, tenantId: acme } = await createApiKey(database.db, 'acme'));
  ({ key: otherKey, tenantId: globex } = await createApiKey(database.db, 'globex'));
  mirror = createMirrorActivities(database.db);
});
afterAll(async () => {
  await app?.close();
  await hub?.close();
  await database?.drop();
});

function build(events: ExecutionEventHub | undefined): Promise<FastifyInstance> {
  return buildApp({ db: database.db, temporal: new FakeTemporalGateway(), catalog: createNodeRegistry().catalog(), events });
}

function connect(executionId: string, options: { headers?: Record<string, string>; query?: string; key?: string; url?: string } = {}) {
  const url = `${options.url ?? base}/executions/${executionId}/events${options.query ? `?${options.query}` : ''}`;
  return SseClient.open(url, { authorization: `Bearer ${options.key ?? key}`, ...options.headers });
}

async function newRun(): Promise<string> {
  const workflowId = await seedWorkflow(database.db, acme);
  return seedExecution(database.db, { tenantId: acme, workflowId });
}

const node = (seq: number, nodeId: string, status: NodeTransition['status'], extra: Partial<NodeTransition> = {}): NodeTransition => ({
  seq,
  nodeId,
  type: nodeId === 'fetch' ? 'http' : 'noop',
  status,
  attempt: 1,
  startedAt: '2030-01-01T00:00:00.000Z',
  ...extra,
});

const data = (frame: SseFrame) => JSON.parse(frame.data!) as Record<string, unknown>;
const summary = (frame: SseFrame) => [frame.event, frame.id, data(frame).nodeId ?? data(frame).status, data(frame).status];

describe('GET /executions/:id/events', () => {
  it('sends a snapshot, then node and run events in seq order as the mirror writes them, and ends after the run', async () => {
    const id = await newRun();
    await mirror.mirrorTransitions({ executionId: id, nodes: [node(1, 'fetch', 'RUNNING')] });
    await mirror.mirrorTransitions({ executionId: id, nodes: [node(2, 'fetch', 'SUCCEEDED', { output: { status: 200 } })] });

    const client = await connect(id);
    expect(client.status).toBe(200);
    expect(client.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(client.headers['cache-control']).toBe('no-cache');
    expect(client.headers['connection']).toBe('keep-alive');

    const snapshot = await client.next();
    expect(snapshot.event).toBe('snapshot');
    expect(snapshot.id).toBe('2');
    const snap = data(snapshot) as { run: Record<string, unknown>; nodes: Record<string, unknown>[] };
    expect(snap.run).toMatchObject({ id, status: 'RUNNING', finishedAt: null });
    expect(snap.nodes).toEqual([
      { nodeId: 'fetch', type: 'http', status: 'SUCCEEDED', attempt: 1, startedAt: '2030-01-01T00:00:00.000Z', finishedAt: null, output: { status: 200 }, error: null },
    ]);

    await mirror.mirrorTransitions({ executionId: id, nodes: [node(3, 'check', 'WAITING')] });
    expect(summary(await client.next())).toEqual(['node', '3', 'check', 'WAITING']);
    // A late, older write moves no row and must produce no event.
    await mirror.mirrorTransitions({ executionId: id, nodes: [node(2, 'check', 'RUNNING')] });
    await mirror.mirrorTransitions({
      executionId: id,
      nodes: [node(6, 'done', 'SUCCEEDED'), node(4, 'check', 'SUCCEEDED'), node(5, 'shape', 'SUCCEEDED')],
      run: { seq: 7, status: 'SUCCEEDED', output: { ok: true }, finishedAt: '2030-01-01T00:00:05.000Z' },
    });
    expect(summary(await client.next())).toEqual(['node', '4', 'check', 'SUCCEEDED']);
    expect(summary(await client.next())).toEqual(['node', '5', 'shape', 'SUCCEEDED']);
    expect(summary(await client.next())).toEqual(['node', '6', 'done', 'SUCCEEDED']);
    const run = await client.next();
    expect(run.event).toBe('run');
    expect(run.id).toBe('7');
    expect(data(run)).toEqual({ status: 'SUCCEEDED', output: { ok: true }, error: null, finishedAt: '2030-01-01T00:00:05.000Z', paused: false, pausedAt: null, pausedBy: null });
    await client.closed();
    expect(client.rest()).toEqual([]);
    // The console (ui/src/run-events.ts) takes every one of these events as sent.
    const { read, sent } = consoleReads(client.frames);
    expect(read).toEqual(sent);
    await until(() => hub.subscriberCount(id) === 0);
  });

  it('resumes after Last-Event-ID (header or query) without a snapshot', async () => {
    const id = await newRun();
    await mirror.mirrorTransitions({ executionId: id, nodes: [node(1, 'fetch', 'RUNNING')] });
    await mirror.mirrorTransitions({ executionId: id, nodes: [node(2, 'fetch', 'SUCCEEDED'), node(3, 'check', 'WAITING')] });

    const client = await connect(id, { headers: { 'last-event-id': '1' } });
    expect(summary(await client.next())).toEqual(['node', '2', 'fetch', 'SUCCEEDED']);
    expect(summary(await client.next())).toEqual(['node', '3', 'check', 'WAITING']);
    await mirror.mirrorTransitions({ executionId: id, nodes: [node(4, 'check', 'SUCCEEDED')] });
    expect(summary(await client.next())).toEqual(['node', '4', 'check', 'SUCCEEDED']);
    client.close();

    const byQuery = await connect(id, { query: 'lastEventId=3' });
    expect(summary(await byQuery.next())).toEqual(['node', '4', 'check', 'SUCCEEDED']);
    await mirror.mirrorTransitions({ executionId: id, nodes: [], run: { seq: 5, status: 'FAILED', error: { type: 'X', message: 'boom' } } });
    const run = await byQuery.next();
    expect([run.event, run.id, data(run).status]).toEqual(['run', '5', 'FAILED']);
    await byQuery.closed();

    // Nothing newer than the id on a finished run: the stream just ends.
    const caughtUp = await connect(id, { headers: { 'last-event-id': '5' } });
    await caughtUp.closed();
    expect(caughtUp.rest()).toEqual([]);

    const bad = await connect(id, { headers: { 'last-event-id': 'abc' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'VALIDATION_ERROR' } });
  });

  it('sends only the snapshot for a run that already finished', async () => {
    const workflowId = await seedWorkflow(database.db, acme);
    const id = await seedExecution(database.db, { tenantId: acme, workflowId, status: 'SUCCEEDED' });
    const client = await connect(id);
    const snapshot = await client.next();
    expect(snapshot.event).toBe('snapshot');
    expect((data(snapshot).run as { status: string }).status).toBe('SUCCEEDED');
    await client.closed();
    expect(client.rest()).toEqual([]);
  });

  it('answers 404 for an unknown id or another tenant\'s run, 401 without a key, before any streaming', async () => {
    const theirs = await seedExecution(database.db, { tenantId: globex, workflowId: await seedWorkflow(database.db, globex) });
    for (const client of [await connect('ex_nope'), await connect(theirs)]) {
      expect(client.status).toBe(404);
      expect(client.headers['content-type']).toMatch(/^application\/json/);
      expect(await client.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
    }
    const owner = await connect(theirs, { key: otherKey });
    expect(owner.status).toBe(200);
    owner.close();
    const anonymous = await SseClient.open(`${base}/executions/${theirs}/events`);
    expect(anonymous.status).toBe(401);
    await anonymous.closed();
  });

  it('sends heartbeat comments while nothing happens', async () => {
    const id = await newRun();
    const client = await connect(id);
    expect((await client.next()).event).toBe('snapshot');
    const started = Date.now();
    expect(await client.next({ comments: true })).toEqual({ comment: 'ping' });
    expect(await client.next({ comments: true })).toEqual({ comment: 'ping' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(HEARTBEAT_MS);
    client.close();
  });

  it('drops the subscription when the client disconnects', async () => {
    const id = await newRun();
    const before = hub.subscriberCount();
    const clients = [await connect(id), await connect(id)];
    for (const client of clients) expect((await client.next()).event).toBe('snapshot');
    expect(hub.subscriberCount(id)).toBe(2);
    clients[0]!.close();
    await until(() => hub.subscriberCount(id) === 1);
    clients[1]!.close();
    await until(() => hub.subscriberCount(id) === 0 && hub.subscriberCount() === before);
  });

  it('loses nothing when the LISTEN connection drops: it reconnects and the stream re-reads', async () => {
    const id = await newRun();
    const client = await connect(id);
    expect((await client.next()).event).toBe('snapshot');

    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'trellis-events' AND datname = current_database()`);
    } finally {
      await admin.end();
    }
    await until(() => !hub.connected);
    // Written while nobody listens: no notification reaches the API for this one.
    await mirror.mirrorTransitions({ executionId: id, nodes: [node(1, 'fetch', 'RUNNING')] });
    expect(summary(await client.next())).toEqual(['node', '1', 'fetch', 'RUNNING']);
    expect(hub.connected).toBe(true);
    await mirror.mirrorTransitions({ executionId: id, nodes: [node(2, 'fetch', 'SUCCEEDED')] });
    expect(summary(await client.next())).toEqual(['node', '2', 'fetch', 'SUCCEEDED']);
    client.close();
  });

  it('answers 503 when the app has no event hub, and app.close() ends open streams', async () => {
    const id = await newRun();
    const without = await build(undefined);
    const noHubUrl = await without.listen({ port: 0, host: '127.0.0.1' });
    try {
      const client = await connect(id, { url: noHubUrl });
      expect(client.status).toBe(503);
      expect(await client.json()).toMatchObject({ error: { code: 'EVENTS_UNAVAILABLE' } });
    } finally {
      await without.close();
    }

    const second = await build(hub);
    const url = await second.listen({ port: 0, host: '127.0.0.1' });
    const client = await connect(id, { url });
    expect((await client.next()).event).toBe('snapshot');
    await second.close();
    await client.closed();
    await until(() => hub.subscriberCount(id) === 0);
  });
});
