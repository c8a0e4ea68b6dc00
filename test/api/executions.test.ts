import { describe, expect, it } from 'vitest';
import { useTestApi, type TestApi } from '../support/api';
import { startExecution } from '../../src/services/executions';
import { ORDER_FLOW, seedWorkflow } from '../support/executions';

let api: TestApi;
let acme: string;
let globex: string;
useTestApi((t) => {
  api = t;
  acme = t.acmeTenantId;
  globex = t.globexTenantId;
});

/** Every start the API makes is signed (src/crypto/claim-signing.ts). */
const signedClaim = { v: 1, sig: expect.stringMatching(/^[A-Za-z0-9+/=_-]{20,}$/) };

const start = (payload: object, headers: Record<string, string> = {}) =>
  api.request({ method: 'POST', url: '/executions', payload, headers });

async function startedCount(trigger: string): Promise<number> {
  const metric = await api.app.metrics.runsStarted.get();
  return metric.values.find((v) => v.labels.trigger === trigger)?.value ?? 0;
}

describe('POST /executions', () => {
  it('creates the row, then starts the workflow with the pinned version', async () => {
    const workflowId = await seedWorkflow(api.database.db, acme, { versions: [ORDER_FLOW, { ...ORDER_FLOW, name: 'v2' }] });
    const before = await startedCount('MANUAL');
    const res = await start({ workflowId, input: { orderId: 7 } });

    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toMatchObject({ status: 'RUNNING', workflowId, version: 2, trigger: 'MANUAL', idempotencyKey: null, retryOf: null, finishedAt: null });
    expect(body.id).toMatch(/^ex_[A-Za-z0-9_-]{22}$/);
    expect(Date.parse(body.createdAt)).not.toBeNaN();

    const row = await api.database.db.execution.findUniqueOrThrow({ where: { id: body.id } });
    expect(row).toMatchObject({ tenantId: acme, workflowId, version: 2, status: 'RUNNING', trigger: 'MANUAL', input: { orderId: 7 } });
    expect(api.temporal.started.get(body.id)).toEqual({ tenantId: api.acmeTenantId, workflowId, version: 2, input: { orderId: 7 }, definition: { ...ORDER_FLOW, name: 'v2' }, claim: signedClaim });
    expect(await startedCount('MANUAL')).toBe(before + 1);
  });

  it('pins an explicit version', async () => {
    const workflowId = await seedWorkflow(api.database.db, acme, { versions: [ORDER_FLOW, ORDER_FLOW, ORDER_FLOW] });
    const res = await start({ workflowId, version: 1 });
    expect(res.statusCode).toBe(202);
    expect(res.json().version).toBe(1);
    expect(api.temporal.started.get(res.json().id)).toEqual({ tenantId: api.acmeTenantId, workflowId, version: 1, definition: ORDER_FLOW, claim: signedClaim });
  });

  it('answers 404 for an unknown workflow, another tenant\'s workflow and an unknown version; 409 when archived', async () => {
    const theirs = await seedWorkflow(api.database.db, globex);
    const archived = await seedWorkflow(api.database.db, acme, { archived: true });
    const ours = await seedWorkflow(api.database.db, acme);

    const unknown = await start({ workflowId: 'wf_nope' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('NOT_FOUND');
    expect((await start({ workflowId: theirs })).statusCode).toBe(404);
    expect((await start({ workflowId: ours, version: 9 })).statusCode).toBe(404);
    const gone = await start({ workflowId: archived });
    expect(gone.statusCode).toBe(409);
    expect(gone.json().error.code).toBe('CONFLICT');

    expect(await api.database.db.execution.count({ where: { workflowId: { in: [theirs, archived] } } })).toBe(0);
  });

  it('answers the same run for the same key, in the body or the header', async () => {
    const workflowId = await seedWorkflow(api.database.db, acme);
    const first = await start({ workflowId, idempotencyKey: 'order-1' });
    const again = await start({ workflowId, idempotencyKey: 'order-1' });
    const byHeader = await start({ workflowId }, { 'idempotency-key': 'order-1' });
    expect([first.statusCode, again.statusCode, byHeader.statusCode]).toEqual([202, 202, 202]);
    expect(again.json().id).toBe(first.json().id);
    expect(byHeader.json().id).toBe(first.json().id);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(first.json().idempotencyKey).toBe('order-1');

    const headerFirst = await start({ workflowId }, { 'idempotency-key': 'order-2' });
    expect((await start({ workflowId, idempotencyKey: 'order-2' })).json().id).toBe(headerFirst.json().id);
    // Replays still ask Temporal to start: that heals a crash between the insert and the start.
    expect(api.temporal.startCalls.filter((id) => id === first.json().id)).toHaveLength(3);
    expect(await api.database.db.execution.count({ where: { workflowId } })).toBe(2);
  });

  it('rejects a key reused for another workflow (409) and differing header and body keys (400)', async () => {
    const one = await seedWorkflow(api.database.db, acme);
    const two = await seedWorkflow(api.database.db, acme);
    expect((await start({ workflowId: one, idempotencyKey: 'shared' })).statusCode).toBe(202);
    const other = await start({ workflowId: two, idempotencyKey: 'shared' });
    expect(other.statusCode).toBe(409);
    expect(other.json().error.code).toBe('CONFLICT');

    const differ = await start({ workflowId: one, idempotencyKey: 'a' }, { 'idempotency-key': 'b' });
    expect(differ.statusCode).toBe(400);
    expect(differ.json().error.details).toEqual([expect.objectContaining({ path: '/body/idempotencyKey' })]);
  });

  it('answers 409 for a key reused with another input, naming both fingerprints; key order and null vs absent do not count', async () => {
    const workflowId = await seedWorkflow(api.database.db, acme);
    const first = await start({ workflowId, idempotencyKey: 'input-1', input: { a: 1, b: [1, { c: 2, d: 3 }] } });
    expect(first.statusCode).toBe(202);
    const reordered = await start({ workflowId, idempotencyKey: 'input-1', input: { b: [1, { d: 3, c: 2 }], a: 1 } });
    expect(reordered.statusCode).toBe(202);
    expect(reordered.json().id).toBe(first.json().id);

    const other = await start({ workflowId, idempotencyKey: 'input-1', input: { a: 2, b: [1, { c: 2, d: 3 }] } });
    expect(other.statusCode).toBe(409);
    const error = other.json().error;
    expect(error.code).toBe('CONFLICT');
    expect(error.message).toMatch(/different input/);
    expect(error.message).toMatch(/new key/);
    expect(error.details).toEqual({
      executionId: first.json().id,
      storedInputFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
      requestInputFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    expect(error.details.storedInputFingerprint).not.toBe(error.details.requestInputFingerprint);
    expect(error.message).toContain(error.details.storedInputFingerprint);

    const absent = await start({ workflowId, idempotencyKey: 'no-input' });
    expect((await start({ workflowId, idempotencyKey: 'no-input', input: null })).json().id).toBe(absent.json().id);
    expect((await start({ workflowId, idempotencyKey: 'no-input', input: {} })).statusCode).toBe(409);
  });

  it('keeps keys per tenant', async () => {
    const ours = await seedWorkflow(api.database.db, acme);
    const theirs = await seedWorkflow(api.database.db, globex);
    const a = await start({ workflowId: ours, idempotencyKey: 'tenant-key' });
    const b = await api.request({
      method: 'POST',
      url: '/executions',
      payload: { workflowId: theirs, idempotencyKey: 'tenant-key' },
      headers: { authorization: `Bearer ${api.otherKey}` },
    });
    expect(b.statusCode).toBe(202);
    expect(b.json().id).not.toBe(a.json().id);
  });

  it('starts exactly one run for 10 concurrent requests with one key', async () => {
    const workflowId = await seedWorkflow(api.database.db, acme);
    const responses = await Promise.all(Array.from({ length: 10 }, () => start({ workflowId, idempotencyKey: 'burst' })));
    expect(responses.map((r) => r.statusCode)).toEqual(Array(10).fill(202));
    expect(new Set(responses.map((r) => r.json().id)).size).toBe(1);
    expect(await api.database.db.execution.count({ where: { workflowId } })).toBe(1);
    expect(api.temporal.started.has(responses[0]!.json().id)).toBe(true);
  });

  it('answers the winner\'s run to a request that loses the insert race (unique violation)', async () => {
    const db = api.database.db;
    const workflowId = await seedWorkflow(db, acme);
    const winner = await startExecution({ db, temporal: api.temporal }, { tenantId: acme, workflowId, idempotencyKey: 'race', trigger: 'MANUAL' });
    // The loser's lookup ran before the winner's insert: it sees nothing and collides on insert.
    let lookups = 0;
    const blindDb = new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== 'execution') return Reflect.get(target, prop, receiver);
        return new Proxy(target.execution, {
          get(delegate, name, r) {
            if (name === 'findUnique' && lookups++ === 0) return async () => null;
            return Reflect.get(delegate, name, r);
          },
        });
      },
    });
    const loser = await startExecution({ db: blindDb, temporal: api.temporal }, { tenantId: acme, workflowId, idempotencyKey: 'race', trigger: 'MANUAL' });
    expect(loser).toEqual({ execution: winner.execution, created: false });
    expect(await db.execution.count({ where: { workflowId } })).toBe(1);
  });

  it('answers 503 and marks the row FAILED when Temporal is down; the same key later starts it', async () => {
    const workflowId = await seedWorkflow(api.database.db, acme);
    api.temporal.down = true;
    const res = await start({ workflowId, idempotencyKey: 'while-down' });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('TEMPORAL_UNAVAILABLE');
    const row = await api.database.db.execution.findFirstOrThrow({ where: { workflowId } });
    expect(row.status).toBe('FAILED');
    expect(row.error).toMatchObject({ type: 'StartFailed', message: 'temporal unavailable' });
    expect(row.finishedAt).not.toBeNull();

    api.temporal.down = false;
    const healed = await start({ workflowId, idempotencyKey: 'while-down' });
    expect(healed.statusCode).toBe(202);
    expect(healed.json()).toMatchObject({ id: row.id, status: 'RUNNING', finishedAt: null });
    expect(api.temporal.started.has(row.id)).toBe(true);
    expect(await api.database.db.execution.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({ status: 'RUNNING', error: null });
  });

  it('rejects malformed bodies with the field path, and input over 256 KiB', async () => {
    const workflowId = await seedWorkflow(api.database.db, acme);
    const cases: [object, string][] = [
      [{}, '/body/workflowId'],
      [{ workflowId, version: 'latest' }, '/body/version'],
      [{ workflowId, version: 0 }, '/body/version'],
      [{ workflowId, extra: true }, '/body/extra'],
      [{ workflowId, idempotencyKey: '' }, '/body/idempotencyKey'],
    ];
    for (const [payload, path] of cases) {
      const res = await start(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_ERROR');
      expect(res.json().error.details.map((d: { path: string }) => d.path)).toContain(path);
    }
    const malformed = await api.request({ method: 'POST', url: '/executions', payload: '{"workflowId":', headers: { 'content-type': 'application/json' } });
    expect(malformed.statusCode).toBe(400);

    const big = await start({ workflowId, input: { blob: 'x'.repeat(256 * 1024) } });
    expect(big.statusCode).toBe(400);
    expect(big.json().error.details).toEqual([expect.objectContaining({ path: '/input' })]);
    expect(await api.database.db.execution.count({ where: { workflowId } })).toBe(0);
  });
});

describe('POST /executions runTimeout', () => {
  it('passes a per-start runTimeout to the run, which overrides the definition\'s', async () => {
    const workflowId = await seedWorkflow(api.database.db, acme);
    const res = await start({ workflowId, runTimeout: '90s' });
    expect(res.statusCode).toBe(202);
    expect(api.temporal.started.get(res.json().id)).toMatchObject({ workflowId, runTimeout: '90s' });
    const ms = await start({ workflowId, runTimeout: 5_000 });
    expect(api.temporal.started.get(ms.json().id)).toMatchObject({ runTimeout: 5_000 });
    const none = await start({ workflowId });
    expect(api.temporal.started.get(none.json().id)).not.toHaveProperty('runTimeout');
  });

  it('rejects a runTimeout that is not a duration, is 0 or is over 30 days', async () => {
    const workflowId = await seedWorkflow(api.database.db, acme);
    for (const runTimeout of ['soon', '31d', 0, -5, '']) {
      const res = await start({ workflowId, runTimeout });
      expect(res.statusCode, String(runTimeout)).toBe(400);
      const paths = (res.json().error.details as { path: string }[]).map((d) => d.path);
      expect(paths.length, String(runTimeout)).toBeGreaterThan(0);
      expect(new Set(paths), String(runTimeout)).toEqual(new Set(['/body/runTimeout']));
    }
  });
});
