import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { claimIsValid, claimSigningKey, signClaim, signClaimWith } from '../../src/crypto/claim-signing';
import { createTenantClaimActivities } from '../../src/activities/tenant-claims';
import { createDb } from '../../src/db/client';
import type { DagWorkflowInput } from '../../src/contracts/dag-workflow';
import { createTestDatabase, type TestDatabase } from '../support/database';

const key = randomBytes(32);
const ID = 'ex_abc';
const base: DagWorkflowInput = {
  tenantId: '00000000-0000-4000-8000-000000000001',
  workflowId: 'wf_1',
  version: 3,
  depth: 0,
  input: { amount: 10, to: 'a' },
  definition: { name: 'pay', nodes: [{ id: 'call', type: 'http', config: { url: 'https://pay.example/{{ secrets.TOKEN }}' } }] },
  reuse: { a: { ok: true } },
  reuseItems: { m: { results: [] } },
  runTimeout: '1h',
  maxConcurrency: 4,
};
const signed = (input: DagWorkflowInput, id = ID) => ({ ...input, claim: signClaimWith(key, id, input) });
/** What Temporal's JSON payload converter delivers. */
const delivered = <T>(value: T): T => JSON.parse(Buffer.from(JSON.stringify(value), 'utf8').toString('utf8')) as T;

describe('claim signatures', () => {
  it('a signed start verifies after the JSON round trip, whatever the key order', () => {
    const start = signed(base);
    expect(claimIsValid(key, ID, delivered(start))).toBe(true);
    const reordered = Object.fromEntries(Object.entries(start).reverse()) as DagWorkflowInput;
    expect(claimIsValid(key, ID, reordered)).toBe(true);
  });

  const tampers: [string, (i: DagWorkflowInput) => DagWorkflowInput][] = [
    ['another tenant', (i) => ({ ...i, tenantId: '00000000-0000-4000-8000-000000000002' })],
    ['another node url', (i) => ({ ...i, definition: { ...i.definition!, nodes: [{ id: 'call', type: 'http', config: { url: 'http://127.0.0.1:9/{{ secrets.TOKEN }}' } }] } })],
    ['an added node', (i) => ({ ...i, definition: { ...i.definition!, nodes: [...i.definition!.nodes, { id: 'x', type: 'transform', config: { expression: '1' } }] } })],
    ['another input', (i) => ({ ...i, input: { amount: 11, to: 'a' } })],
    ['another workflowId', (i) => ({ ...i, workflowId: 'wf_2' })],
    ['another version', (i) => ({ ...i, version: 4 })],
    ['another depth', (i) => ({ ...i, depth: 1 })],
    ['another reuse', (i) => ({ ...i, reuse: { a: { ok: false } } })],
    ['no reuseItems', ({ reuseItems: _r, ...i }) => i],
    ['an added field', (i) => ({ ...i, iterationLimits: { batchSize: 1 } })],
    ['a forged signature', (i) => ({ ...i, claim: { v: 1, sig: signClaimWith(randomBytes(32), ID, i).sig } })],
    ['no claim', ({ claim: _c, ...i }) => i],
    ['a malformed claim', (i) => ({ ...i, claim: { v: 1, sig: 42 } as never })],
    ['another claim version', (i) => ({ ...i, claim: { ...i.claim!, v: 2 as 1 } })],
    ['a truncated signature', (i) => ({ ...i, claim: { v: 1, sig: i.claim!.sig.slice(0, 20) } })],
  ];
  for (const [name, tamper] of tampers) {
    it(`refuses ${name}`, () => {
      expect(claimIsValid(key, ID, delivered(tamper(signed(base))))).toBe(false);
    });
  }

  it('refuses the same args replayed under another Temporal workflow id, or checked with another key', () => {
    expect(claimIsValid(key, 'ex_other', signed(base))).toBe(false);
    expect(claimIsValid(randomBytes(32), ID, signed(base))).toBe(false);
  });

  it('signs what arrives when the input holds a lone surrogate (UTF-8 payloads turn it into U+FFFD)', () => {
    const start = signed({ ...base, input: { text: 'a\ud800b' } });
    expect(claimIsValid(key, ID, delivered(start))).toBe(true);
  });
});

describe('the deployment key in Postgres', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t.drop();
  });

  it('is created once: processes starting together (separate pools) get the same key, and it verifies across them', async () => {
    const other = createDb(t.url, { max: 2 });
    try {
      const [a, b] = await Promise.all([claimSigningKey(t.db), claimSigningKey(other)]);
      expect(a.length).toBe(32);
      expect(a.equals(b)).toBe(true);
      const start = await signClaim(t.db, ID, base);
      await expect(createTenantClaimActivities(other).verifyTenantClaim({ temporalWorkflowId: ID, input: delivered(start) })).resolves.toBeUndefined();
      expect(await t.db.claimSigningKey.count()).toBe(1);
    } finally {
      await other.$disconnect();
    }
  });

  it('the activity refuses a tampered claim, and every claim without a database, as TenantClaimRefused (non-retryable)', async () => {
    const start = await signClaim(t.db, ID, base);
    for (const [db, input] of [
      [t.db, { ...start, tenantId: 'someone-else' }],
      [undefined, start],
    ] as const) {
      const err = await createTenantClaimActivities(db).verifyTenantClaim({ temporalWorkflowId: ID, input }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApplicationFailure);
      expect(err).toMatchObject({ type: 'TenantClaimRefused', nonRetryable: true });
    }
  });
});
