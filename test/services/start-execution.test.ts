import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createApiKey } from '../../src/services/api-keys';
import type pg from 'pg';
import { sqlPool } from '../../src/db/client';
import { createExecutionOfStartableVersion, IdempotencyKeyTaken, type ExecutionToStart } from '../../src/mirror/start-execution';
import { ORDER_FLOW, seedWorkflow } from '../support/executions';

let database: TestDatabase;
let tenantId: string;
let other: string;
beforeAll(async () => {
  database = await createTestDatabase();
  tenantId = (await createApiKey(database.db, 'acme')).tenantId;
  other = (await createApiKey(database.db, 'globex')).tenantId;
});
afterAll(async () => database?.drop());

/** The names of the prepared statements sent on connections of the Db's pool until stop(). */
function namedStatementsSent() {
  const pool = sqlPool(database.db);
  const connect = pool.connect;
  const names: string[] = [];
  pool.connect = (async () => {
    const client = await (connect as () => Promise<pg.PoolClient>).call(pool);
    const query = client.query;
    client.query = ((config: { name?: string }, ...rest: unknown[]) => {
      if (typeof config === 'object' && config.name) names.push(config.name);
      return (query as (...args: unknown[]) => unknown).call(client, config, ...rest);
    }) as typeof client.query;
    const release = client.release;
    client.release = (err?: Error | boolean) => {
      client.query = query;
      client.release = release;
      return release.call(client, err);
    };
    return client;
  }) as typeof pool.connect;
  return {
    stop: () => {
      pool.connect = connect;
      return names;
    },
  };
}

let n = 0;
const run = (workflowId: string, extra: Partial<ExecutionToStart> = {}): ExecutionToStart => ({
  id: `ex_test_${++n}`,
  tenantId,
  workflowId,
  trigger: 'MANUAL',
  retryOf: null,
  idempotencyKey: null,
  input: undefined,
  maxRunning: 1_000_000,
  ...extra,
});

describe('createExecutionOfStartableVersion: lookup and insert in one statement', () => {
  it('inserts the RUNNING row of the latest or the requested version and returns its definition', async () => {
    const workflowId = await seedWorkflow(database.db, tenantId, { versions: [ORDER_FLOW, { ...ORDER_FLOW, name: 'v2' }] });
    const latest = await createExecutionOfStartableVersion(database.db, run(workflowId, { input: { a: 1 } }));
    expect(latest).toMatchObject({ workflowId, archived: false, version: 2, definition: { ...ORDER_FLOW, name: 'v2' } });
    expect(latest?.created?.createdAt).toBeInstanceOf(Date);
    const row = await database.db.execution.findUniqueOrThrow({ where: { id: `ex_test_${n}` } });
    expect(row).toMatchObject({ tenantId, workflowId, version: 2, status: 'RUNNING', trigger: 'MANUAL', input: { a: 1 }, lastSeq: 0, finishedAt: null });
    expect(row.createdAt.getTime()).toBe(latest!.created!.createdAt.getTime());

    const pinned = await createExecutionOfStartableVersion(database.db, run(workflowId, { version: 1, trigger: 'RETRY', retryOf: row.id }));
    expect(pinned).toMatchObject({ version: 1, definition: ORDER_FLOW });
    expect(await database.db.execution.findUniqueOrThrow({ where: { id: `ex_test_${n}` } })).toMatchObject({ version: 1, trigger: 'RETRY', retryOf: row.id });
  });

  it('writes nothing for an unknown or archived workflow, another tenant\'s, or a missing version', async () => {
    const archived = await seedWorkflow(database.db, tenantId, { archived: true });
    const theirs = await seedWorkflow(database.db, other);
    const ours = await seedWorkflow(database.db, tenantId);
    expect(await createExecutionOfStartableVersion(database.db, run('wf_nope'))).toBeUndefined();
    expect(await createExecutionOfStartableVersion(database.db, run(theirs))).toBeUndefined();
    const gone = await createExecutionOfStartableVersion(database.db, run(archived));
    expect(gone).toMatchObject({ archived: true });
    expect(gone?.created).toBeUndefined();
    const missing = await createExecutionOfStartableVersion(database.db, run(ours, { version: 7 }));
    expect(missing).toMatchObject({ version: 7, archived: false });
    expect(missing?.definition).toBeUndefined();
    expect(missing?.created).toBeUndefined();
    expect(await database.db.execution.count({ where: { workflowId: { in: [archived, theirs, ours] } } })).toBe(0);
  });

  it('stores an absent input as NULL and a null input as JSON null, as Prisma did', async () => {
    const workflowId = await seedWorkflow(database.db, tenantId);
    const absent = run(workflowId);
    const jsonNull = run(workflowId, { input: null });
    await createExecutionOfStartableVersion(database.db, absent);
    await createExecutionOfStartableVersion(database.db, jsonNull);
    const rows = await database.db.$queryRaw<{ id: string; is_sql_null: boolean }[]>`
      SELECT id, input IS NULL AS is_sql_null FROM executions WHERE id IN (${absent.id}, ${jsonNull.id}) ORDER BY id`;
    expect(Object.fromEntries(rows.map((r) => [r.id, r.is_sql_null]))).toEqual({ [absent.id]: true, [jsonNull.id]: false });
  });

  it('fails with IdempotencyKeyTaken on a second run with the same idempotency key', async () => {
    const workflowId = await seedWorkflow(database.db, tenantId);
    await createExecutionOfStartableVersion(database.db, run(workflowId, { idempotencyKey: 'k1' }));
    await expect(createExecutionOfStartableVersion(database.db, run(workflowId, { idempotencyKey: 'k1' }))).rejects.toBeInstanceOf(IdempotencyKeyTaken);
    // The same key in another tenant is another key.
    const theirs = await seedWorkflow(database.db, other);
    await expect(createExecutionOfStartableVersion(database.db, run(theirs, { tenantId: other, idempotencyKey: 'k1' }))).resolves.toMatchObject({ created: expect.any(Object) });
  });

  it('answers concurrent starts as if each ran alone when they share statements', async () => {
    const workflowId = await seedWorkflow(database.db, tenantId, { versions: [ORDER_FLOW, { ...ORDER_FLOW, name: 'v2' }] });
    const archived = await seedWorkflow(database.db, tenantId, { archived: true });
    const theirs = await seedWorkflow(database.db, other);
    const runs = [
      run(workflowId, { input: { quote: 'a "quoted", {braced} \\ back\\slashed ünïcode input' } }),
      run(workflowId, { version: 1, input: null }),
      run('wf_nope'),
      run(theirs),
      run(archived),
      run(workflowId, { version: 9 }),
      run(workflowId, { input: [1, 2, 3] }),
      run(workflowId),
    ];
    // Submitted together: two leave at once and the other six wait, then share one statement.
    const statements = namedStatementsSent();
    const answers = await Promise.all(runs.map((r) => createExecutionOfStartableVersion(database.db, r)));
    // Each statement runs in its own transaction, after the admission lock of its tenants.
    expect(statements.stop().filter((name) => name.startsWith('trellis_start_runs'))).toEqual(['trellis_start_runs_v3', 'trellis_start_runs_v3', 'trellis_start_runs_v3']);
    expect(answers.map((a) => (a === undefined ? 'none' : a.created ? `v${a.version}` : a.archived ? 'archived' : `no v${a.version}`))).toEqual([
      'v2',
      'v1',
      'none',
      'none',
      'archived',
      'no v9',
      'v2',
      'v2',
    ]);
    expect(answers[1]?.definition).toEqual(ORDER_FLOW);
    const rows = await database.db.execution.findMany({ where: { id: { in: runs.map((r) => r.id) } } });
    expect(Object.fromEntries(rows.map((row) => [row.id, row.input]))).toEqual({
      [runs[0]!.id]: runs[0]!.input,
      [runs[1]!.id]: null,
      [runs[6]!.id]: [1, 2, 3],
      [runs[7]!.id]: null,
    });
    expect(rows.every((row) => row.tenantId === tenantId && row.status === 'RUNNING')).toBe(true);
  });

  it('gives only the start whose idempotency key is taken IdempotencyKeyTaken when starts share a statement', async () => {
    const workflowId = await seedWorkflow(database.db, tenantId);
    const runs = [run(workflowId), run(workflowId), run(workflowId, { idempotencyKey: 'shared' }), run(workflowId), run(workflowId, { idempotencyKey: 'shared' }), run(workflowId)];
    const answers = await Promise.allSettled(runs.map((r) => createExecutionOfStartableVersion(database.db, r)));
    const outcomes = answers.map((a) => (a.status === 'fulfilled' ? 'created' : a.reason instanceof IdempotencyKeyTaken ? 'taken' : String(a.reason)));
    // The two keyed starts run alone after the shared statement failed, at once: either may win.
    expect([outcomes[2], outcomes[4]].sort()).toEqual(['created', 'taken']);
    expect([0, 1, 3, 5].map((i) => outcomes[i])).toEqual(['created', 'created', 'created', 'created']);
    expect(await database.db.execution.count({ where: { id: { in: runs.map((r) => r.id) } } })).toBe(5);
  });

  it('admits a tenant\'s runs only while fewer than maxRunning are RUNNING, within one statement and across concurrent ones', async () => {
    const capped = (await createApiKey(database.db, 'capped')).tenantId;
    const workflowId = await seedWorkflow(database.db, capped);
    const theirs = await seedWorkflow(database.db, other);
    const first = await createExecutionOfStartableVersion(database.db, run(workflowId, { tenantId: capped, maxRunning: 3 }));
    expect(first?.created).toBeDefined();
    // Two go alone, the rest share statements: capped's runs past the third are refused, globex's are not.
    const runs = [...Array.from({ length: 6 }, () => run(workflowId, { tenantId: capped, maxRunning: 3 })), run(theirs, { tenantId: other, maxRunning: 3 })];
    const answers = await Promise.all(runs.map((r) => createExecutionOfStartableVersion(database.db, r)));
    const outcomes = answers.map((a) => (a?.created ? 'created' : a?.limited ? `limited at ${a.limited.running}` : 'other'));
    // Which two of capped's six win depends on which statement takes the tenant's lock first
    // (two statements are out at once); that exactly two do, and globex's run is not held back, does not.
    expect(outcomes.slice(0, 6).sort()).toEqual(['created', 'created', 'limited at 3', 'limited at 3', 'limited at 3', 'limited at 3']);
    expect(outcomes[6]).toBe('created');
    expect(await database.db.execution.count({ where: { tenantId: capped, status: 'RUNNING' } })).toBe(3);
    // A run that ends frees its slot at once.
    const admitted = runs[outcomes.indexOf('created')]!.id;
    expect((await database.db.execution.updateMany({ where: { id: admitted, status: 'RUNNING' }, data: { status: 'SUCCEEDED', finishedAt: new Date() } })).count).toBe(1);
    expect((await createExecutionOfStartableVersion(database.db, run(workflowId, { tenantId: capped, maxRunning: 3 })))?.created).toBeDefined();
  });
});
