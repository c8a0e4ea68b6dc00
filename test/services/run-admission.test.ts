import { describe, expect, it } from 'vitest';
import { RunAdmission, RUN_COUNT_REFRESH_MS } from '../../src/services/run-admission';
import { ApiError } from '../../src/api/errors';

/** A tenant's RUNNING rows as Postgres would count them, with a clock the test moves. */
function setup(max: number, rows = 0) {
  const db = { rows, counts: 0 };
  let clock = 0;
  const admission = new RunAdmission(
    async () => {
      db.counts++;
      await new Promise((r) => setTimeout(r, 1));
      return db.rows;
    },
    { maxRunning: () => max, now: () => clock },
  );
  /** admit, then write the row as startExecution does once its insert committed. */
  const start = async (tenant = 't1') => {
    const ticket = await admission.admit(tenant);
    db.rows++;
    ticket.written();
    return ticket;
  };
  return { db, admission, start, tick: (ms: number) => (clock += ms) };
}

const tooMany = (err: unknown) => err instanceof ApiError && err.statusCode === 429 && err.code === 'TOO_MANY_RUNS';

describe('RunAdmission: the per-tenant bound on runs in progress', () => {
  it('counts once per refresh period while the tenant is far from its limit, adding its own starts', async () => {
    const { db, start, tick } = setup(1_000);
    for (let i = 0; i < 50; i++) await start();
    expect(db.counts).toBe(1);
    tick(RUN_COUNT_REFRESH_MS);
    await start();
    expect(db.counts).toBe(2);
  });

  it('refuses over the limit counting this process\'s starts whose rows no count has seen yet', async () => {
    const { db, admission, start } = setup(100, 90);
    for (let i = 0; i < 5; i++) await start();
    // Inserts still in flight (not committed, so no count sees them): only this process's bookkeeping can refuse.
    for (let i = 0; i < 5; i++) await admission.admit('t1');
    await expect(admission.admit('t1')).rejects.toSatisfy(tooMany);
    expect(db.rows).toBe(95);
    // Another tenant has its own count.
    await expect(admission.admit('t2')).resolves.toBeDefined();
  });

  it('admits exactly up to the limit under concurrent starts sharing one count', async () => {
    const { db, admission } = setup(3);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => admission.admit('t1')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    expect(results.filter((r) => r.status === 'rejected' && tooMany(r.reason))).toHaveLength(7);
    expect(db.counts).toBeLessThanOrEqual(2);
  });

  it('counts on every start within 10% of the limit, so runs started by other processes are seen', async () => {
    const { db, start } = setup(10, 8);
    await start(); // 9 of 10 now: from here every start counts
    const before = db.counts;
    db.rows++; // another API process started one: 10 of 10
    await expect(start()).rejects.toSatisfy(tooMany);
    expect(db.counts).toBe(before + 1);
    db.rows -= 2; // two runs finished
    await expect(start()).resolves.toBeDefined();
  });

  it('frees the slot of a start that wrote no row, and of one whose row was marked FAILED', async () => {
    const { db, admission, tick } = setup(2);
    const unwritten = await admission.admit('t1');
    unwritten.release(); // e.g. the workflow was not found
    const first = await admission.admit('t1');
    db.rows++;
    first.written();
    const second = await admission.admit('t1');
    second.release();
    // The first run's start failed after its row was written: the row is FAILED now.
    db.rows--;
    first.release();
    first.release(); // releasing twice changes nothing
    // Near the limit every start counts again, so the freed slot is seen at once.
    tick(1);
    await expect(admission.admit('t1')).resolves.toBeDefined();
    await expect(admission.admit('t1')).resolves.toBeDefined();
    await expect(admission.admit('t1')).rejects.toSatisfy(tooMany);
  });

  it('never refuses for long because of runs that finished: the next count sees them gone', async () => {
    const { db, start } = setup(4, 4);
    await expect(start()).rejects.toSatisfy(tooMany);
    db.rows = 0;
    await expect(start()).resolves.toBeDefined();
  });

  it('passes a failed count on (the start fails) and counts again next time', async () => {
    let fail = true;
    const admission = new RunAdmission(
      async () => {
        if (fail) throw new Error('postgres down');
        return 0;
      },
      { maxRunning: () => 5 },
    );
    await expect(admission.admit('t1')).rejects.toThrow('postgres down');
    fail = false;
    await expect(admission.admit('t1')).resolves.toBeDefined();
  });
});
