import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { MockActivityEnvironment } from '@temporalio/testing';
import { defineNodeType, toActivity } from '../../src/activities/registry';
import { PrismaOutputStore, isOutputRef } from '../../src/activities/output-store';
import type { NodeActivityResult } from '../../src/contracts/node-activity';
import { createTestDatabase, type TestDatabase } from '../support/database';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => t?.drop());

const seen: unknown[] = [];
const echo = defineNodeType({
  type: 'echo',
  configSchema: Type.Object({ size: Type.Optional(Type.Integer()), payload: Type.Optional(Type.Unknown()) }),
  async run(config) {
    seen.push(config.payload);
    return config.size ? { rows: 'x'.repeat(config.size) } : { small: true };
  },
});

describe('large node outputs travel by reference', () => {
  it('stores an output over the threshold in Postgres and returns a reference; small ones pass through', async () => {
    const store = new PrismaOutputStore(t.db, 1_000);
    const activity = toActivity(echo, store);
    const env = new MockActivityEnvironment();
    const big: NodeActivityResult = await env.run(activity, { nodeId: 'big', executionId: 'ex1', config: { size: 5_000 } });
    expect(isOutputRef(big.output)).toBe(true);
    expect(big.output).toMatchObject({ sizeBytes: 5_011 });
    const rows = await t.db.outputBlob.findMany({ where: { executionId: 'ex1' } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ nodeId: 'big', sizeBytes: 5_011, data: { rows: 'x'.repeat(5_000) } });

    const small: NodeActivityResult = await env.run(activity, { nodeId: 'small', executionId: 'ex1', config: {} });
    expect(small.output).toEqual({ small: true });

    // A downstream node that gets the reference in its config sees the stored value.
    await env.run(activity, { nodeId: 'next', executionId: 'ex1', config: { payload: { nested: [big.output] } } });
    expect(seen.at(-1)).toEqual({ nested: [{ rows: 'x'.repeat(5_000) }] });
  });
});
