import { describe, expect, it } from 'vitest';
import { ExecutionAdmission, RUN_COUNT_REFRESH_MS } from '../../src/services/execution-admission';
import { ServiceError } from '../../src/services/errors';

/**
 * A tenant's RUNNING rows as Postgres would count them (ids; `excluding` left out), with a
 * clock the test moves and a hook that runs while a count is in flight.
 */
function setup(max: number, rows = 0) {
  const db = { running: new Set(Array.from({ length: rows }, (_, i) => `other-${i}`)), counts: 0, duringCount: () => {} };
  let clock = 0;
  let next = 0;
  const admission = new ExecutionAdmission(
    async (_tenant, excluding) => {
      db.counts++;
      db.duringCount();
      await new Promise((r) => setTimeout(r, 1));
      return [...db.running].filter((id) => !excluding.includes(id)).length;
    },
    { maxRunning: () => max, now: () => clock },
  );
  /** admit, then write the row as startExecution does once its insert committed. */
  const start = async (tenant = 't1') => {
    const id = `run-${++next}`;
    const ticket = await admission.admit(tenant, id);
    db.running.add(id);
    ticket.written();
    return { id, ticket };
  };
  return { db, admission, start, tick: (ms: number) => (clock += ms), id: () => `run-${++next}` };
}

const tooMany = (err: unknown) => err instanceof ServiceError && err.kind === 'limit' && err.code === 'TOO_MANY_RUNS';

describe('ExecutionAdmission: the per-tenant bound on runs in progress', () => {
  it('counts once per refresh period while the tenant is far from its limit, adding its own starts', async () => {
    const { db, start, tick } = setup(1_000);
    for (let i = 0; i < 50; i++) await start();
    expect(db.counts).toBe(1);
    tick(RUN_COUNT_REFRESH_MS);
    await start();
    expect(db.counts).toBe(2);
  });

  it('admits on the last count while a stale one is refreshed, and uses the new count once it lands', async () => {
    let release!: () => void;
    let counts = 0;
    let running = 0;
    let clock = 0;
    const admission = new ExecutionAdmission(
      async () => {
        counts++;
        if (counts === 2) await new Promise<void>((r) => (release = r)); // the refresh hangs until released
        return running;
      },
      { maxRunning: () => 100, now: () => clock },
    );
    await admission.admit('t1', 'a'); // first count: 0
    clock += RUN_COUNT_REFRESH_MS;
    running = 85; // other processes started 85 runs meanwhile
    // The refresh is in flight and does not answer: starts go on with the last count (no stall).
    for (let i = 0; i < 5; i++) await expect(admission.admit('t1', `b${i}`)).resolves.toBeDefined();
    expect(counts).toBe(2); // one refresh, shared
    release();
    await new Promise((r) => setTimeout(r, 0));
    // The new count (85, plus this process's 6 starts) is within 10% of the limit: every start counts now.
    await admission.admit('t1', 'c');
    expect(counts).toBe(3);
  });

  it("refuses over the limit counting this process's starts whose rows are not committed yet", async () => {
    const { db, admission, start, id } = setup(100, 90);
    for (let i = 0; i < 5; i++) await start();
    // Inserts still in flight (no count sees them): only this process's bookkeeping can refuse.
    for (let i = 0; i < 5; i++) await admission.admit('t1', id());
    await expect(admission.admit('t1', id())).rejects.toSatisfy(tooMany);
    expect(db.running.size).toBe(95);
    // Another tenant has its own count.
    await expect(admission.admit('t2', id())).resolves.toBeDefined();
  });

  it('admits exactly up to the limit under concurrent starts sharing one count', async () => {
    const { db, admission, id } = setup(3);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => admission.admit('t1', id())));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'rejected' && tooMany(r.reason))).toHaveLength(7);
    expect(db.counts).toBeLessThanOrEqual(2);
  });

  it('counts a start whose row commits while a count runs once, not twice', async () => {
    const { db, admission, id } = setup(2);
    const first = id();
    const ticket = await admission.admit('t1', first);
    db.duringCount = () => db.running.add(first); // the first start's insert commits mid-count
    await expect(admission.admit('t1', id())).resolves.toBeDefined();
    ticket.written();
    db.duringCount = () => {};
    await expect(admission.admit('t1', id())).rejects.toSatisfy(tooMany);
  });

  it('counts on every start within 10% of the limit, so runs started by other processes are seen', async () => {
    const { db, start } = setup(10, 8);
    await start(); // 9 of 10 now: from here every start counts
    const before = db.counts;
    db.running.add('another-process'); // 10 of 10
    await expect(start()).rejects.toSatisfy(tooMany);
    expect(db.counts).toBe(before + 1);
    db.running.delete('other-0'); // two runs finished
    db.running.delete('other-1');
    await expect(start()).resolves.toBeDefined();
  });

  it('frees the slot of a start that wrote no row, and of one whose row was marked FAILED', async () => {
    const { db, admission, id } = setup(2);
    (await admission.admit('t1', id())).release(); // e.g. the workflow was not found
    const firstId = id();
    const first = await admission.admit('t1', firstId);
    db.running.add(firstId);
    first.written();
    // The first run's start then failed: its row is FAILED.
    db.running.delete(firstId);
    first.release();
    first.release(); // releasing twice changes nothing
    await expect(admission.admit('t1', id())).resolves.toBeDefined();
    await expect(admission.admit('t1', id())).resolves.toBeDefined();
    await expect(admission.admit('t1', id())).rejects.toSatisfy(tooMany);
  });

  it('never refuses for long because of runs that finished: the next count sees them gone', async () => {
    const { db, start } = setup(4, 4);
    await expect(start()).rejects.toSatisfy(tooMany);
    db.running.clear();
    await expect(start()).resolves.toBeDefined();
  });

  it('passes a failed count on (the start fails) and counts again next time', async () => {
    let fail = true;
    const admission = new ExecutionAdmission(
      async () => {
        if (fail) throw new Error('postgres down');
        return 0;
      },
      { maxRunning: () => 5 },
    );
    await expect(admission.admit('t1', 'a')).rejects.toThrow('postgres down');
    fail = false;
    await expect(admission.admit('t1', 'b')).resolves.toBeDefined();
  });
});
