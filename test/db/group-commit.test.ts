import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/db/group-commit';

/** A statement that stays out until released, recording what it was sent. */
function recorder(options: { failWhen?: (items: number[]) => boolean } = {}) {
  const sent: { kind: 'many' | 'one'; items: number[] }[] = [];
  const waiting: (() => void)[] = [];
  const hold = () => new Promise<void>((resolve) => waiting.push(resolve));
  const many = async (items: number[]) => {
    sent.push({ kind: 'many', items });
    await hold();
    if (options.failWhen?.(items)) throw new Error('batch refused');
    return items.map((n) => n * 10);
  };
  const one = async (item: number) => {
    sent.push({ kind: 'one', items: [item] });
    await hold();
    if (item < 0) throw new Error(`item ${item} refused`);
    return item * 10;
  };
  const releaseAll = async () => {
    while (waiting.length > 0) {
      waiting.splice(0).forEach((release) => release());
      await new Promise((r) => setImmediate(r));
    }
  };
  return { sent, many, one, releaseAll };
}

describe('GroupCommit', () => {
  it('sends an item at once while statements are free, and queues the rest into one batch', async () => {
    const r = recorder();
    const commit = new GroupCommit(r.many, r.one, { maxInFlight: 2 });
    const answers = [1, 2, 3, 4, 5, 6].map((n) => commit.submit(n));
    // The first two left alone, without waiting for anything; the other four wait for a free slot.
    expect(r.sent).toEqual([
      { kind: 'one', items: [1] },
      { kind: 'one', items: [2] },
    ]);
    await r.releaseAll();
    expect(await Promise.all(answers)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(r.sent.slice(2)).toEqual([{ kind: 'many', items: [3, 4, 5, 6] }]);
  });

  it('bounds a batch by items and by size; an item over the size still goes, alone', async () => {
    const r = recorder();
    const commit = new GroupCommit(r.many, r.one, { maxInFlight: 1, maxItems: 3, sizeOf: (n) => n, maxSize: 10 });
    const answers = [1, 2, 3, 4, 5, 6, 7, 20, 1].map((n) => commit.submit(n));
    await r.releaseAll();
    expect(await Promise.all(answers)).toEqual([10, 20, 30, 40, 50, 60, 70, 200, 10]);
    // 1 alone (nothing out); then at most 3 items and at most 10 in size per statement.
    expect(r.sent.map((s) => s.items)).toEqual([[1], [2, 3, 4], [5], [6], [7], [20], [1]]);
  });

  it('runs each item of a failed batch alone: the bad one fails, the others succeed', async () => {
    const r = recorder({ failWhen: (items) => items.some((n) => n < 0) });
    const commit = new GroupCommit(r.many, r.one, { maxInFlight: 1 });
    const first = commit.submit(1);
    const rest = [2, -3, 4].map((n) => commit.submit(n).then((v) => ({ ok: v }), (err: Error) => ({ err: err.message })));
    await r.releaseAll();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([{ ok: 20 }, { err: 'item -3 refused' }, { ok: 40 }]);
    expect(r.sent.map((s) => `${s.kind}:${s.items.join(',')}`)).toEqual(['one:1', 'many:2,-3,4', 'one:2', 'one:-3', 'one:4']);
  });

  it('treats a batch answering the wrong number of results as failed', async () => {
    const sentAlone: number[] = [];
    const commit = new GroupCommit(
      async (items: number[]) => items.slice(1),
      async (n: number) => {
        sentAlone.push(n);
        await new Promise((r) => setImmediate(r));
        return n;
      },
      { maxInFlight: 1 },
    );
    expect(await Promise.all([1, 2, 3].map((n) => commit.submit(n)))).toEqual([1, 2, 3]);
    expect(sentAlone).toEqual([1, 2, 3]);
  });
});
