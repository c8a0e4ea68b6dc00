import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/client';
import type { DagWorkflowInput, TenantClaim } from '../contracts/dag-workflow';

/**
 * Tenant claims of the runs Trellis starts (DESIGN §8). A start that carries an inline
 * definition and a tenantId is believed only with an HMAC-SHA256 over everything the run acts
 * on: the Temporal workflow id it was started under and every field of its input but the claim
 * itself, as canonical JSON. Any change to any of them (another tenant, another node, another
 * input, the same args under another workflow id) breaks the signature.
 *
 * The key is 32 random bytes kept in Postgres (`claim_signing_keys`), created by whichever
 * process needs it first: zero configuration, known to every API and worker process of the
 * deployment (they share the database anyway) and to nobody with only Temporal access. It is
 * read outside the workflow sandbox and never enters a history.
 */
export const CLAIM_VERSION = 1;

const KEY_ROW = 1;

/** The canonical bytes a claim signs: fixed key order, undefined fields dropped (as JSON drops them). */
export function claimPayload(temporalWorkflowId: string, input: DagWorkflowInput): string {
  const { claim: _claim, ...signed } = input;
  return canonicalJson({ v: CLAIM_VERSION, id: temporalWorkflowId, input: signed });
}

export function signClaimWith(key: Buffer, temporalWorkflowId: string, input: DagWorkflowInput): TenantClaim {
  return { v: CLAIM_VERSION, sig: hmac(key, claimPayload(temporalWorkflowId, input)) };
}

/** True when `input.claim` is a valid signature of this input under this workflow id. */
export function claimIsValid(key: Buffer, temporalWorkflowId: string, input: DagWorkflowInput): boolean {
  const claim = input.claim as Partial<TenantClaim> | undefined;
  if (!claim || typeof claim !== 'object' || claim.v !== CLAIM_VERSION || typeof claim.sig !== 'string') return false;
  const expected = Buffer.from(hmac(key, claimPayload(temporalWorkflowId, input)), 'base64url');
  const presented = Buffer.from(claim.sig, 'base64url');
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

const keys = new WeakMap<Db, Promise<Buffer>>();

/** The deployment's claim key: read once per process (created on first use), retried after a failure. */
export function claimSigningKey(db: Db): Promise<Buffer> {
  let key = keys.get(db);
  if (!key) {
    key = loadOrCreateKey(db);
    keys.set(db, key);
    key.catch(() => keys.delete(db));
  }
  return key;
}

/** Signs a start Trellis makes: `temporalWorkflowId` is the id it will be started under. */
export async function signClaim(db: Db, temporalWorkflowId: string, input: DagWorkflowInput): Promise<DagWorkflowInput> {
  return { ...input, claim: signClaimWith(await claimSigningKey(db), temporalWorkflowId, input) };
}

async function loadOrCreateKey(db: Db): Promise<Buffer> {
  // Two processes starting at once both insert; one row wins and both read it.
  await db.claimSigningKey.createMany({ data: [{ id: KEY_ROW, key: randomBytes(32).toString('base64') }], skipDuplicates: true });
  const row = await db.claimSigningKey.findUniqueOrThrow({ where: { id: KEY_ROW } });
  const key = Buffer.from(row.key, 'base64');
  if (key.length < 32) throw new Error('claim_signing_keys holds a key shorter than 32 bytes');
  return key;
}

function hmac(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}

/** ES2024's String.prototype.toWellFormed (Node 20+); tsconfig's lib is ES2022. */
type WellFormable = string & { toWellFormed(): string };

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  // A lone surrogate reaches the worker as U+FFFD (payloads are UTF-8): sign what will arrive.
  if (typeof value === 'string') return JSON.stringify((value as WellFormable).toWellFormed());
  return JSON.stringify(value) ?? 'null';
}
