import { describe, expect, it } from 'vitest';
import { defaultPayloadConverter, type Payload, type SerializationContext } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import {
  AesGcmPayloadCodec,
  ENCRYPTED_ENCODING,
  FORMAT_METADATA,
  KEY_ID_METADATA,
  PLATFORM_SCOPE,
  TENANT_METADATA,
} from '../../src/crypto/payload-codec';
import { PayloadTenants, rootExecutionId } from '../../src/crypto/payload-tenants';
import { Keyring, generateKeyText, parseKey, seal } from '../../src/crypto/keyring';
import { rememberStartedTenants } from '../../src/temporal/client';
import { DAG_WORKFLOW_TYPE } from '../../src/contracts/dag-workflow';

const A = '0b0c4f0e-4a57-4a1e-9d35-5b1a4c1e0a01';
const B = '7d9f2a61-1c3e-4f7a-8b20-3e5d9c0b7f02';
const oldKey = parseKey(generateKeyText(), 'old');
const newKey = parseKey(generateKeyText(), 'new');
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes!).toString();
const value = (p: Payload) => defaultPayloadConverter.fromPayload(p);
const plain = (v: unknown) => defaultPayloadConverter.toPayload(v);
const workflow = (workflowId: string): SerializationContext => ({ type: 'workflow', namespace: 'default', workflowId });

/** A codec whose tenant map knows `ex_a` (tenant A) and `ex_b` (tenant B), counting lookups. */
function codecWithTenants(keys = new Keyring(newKey, [oldKey])) {
  const lookups: string[] = [];
  const tenants = new PayloadTenants(async (root) => {
    lookups.push(root);
    return ({ ex_a: A, ex_b: B } as Record<string, string>)[root];
  });
  return { codec: new AesGcmPayloadCodec(keys, tenants), tenants, lookups };
}

/** A payload as the codec wrote it before payloads were per tenant (format 1: one constant AAD). */
function legacyPayload(v: unknown, key = newKey): Payload {
  return {
    metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: Buffer.from(key.id) },
    data: seal(key.key, Buffer.from(temporal.api.common.v1.Payload.encode(plain(v)).finish()), 'trellis-payload'),
  };
}

describe('the per-tenant payload codec', () => {
  it("seals each payload for its workflow's tenant, with the tenant and format in metadata", async () => {
    const { codec } = codecWithTenants();
    const [sealed] = await codec.encode([plain({ orderId: 'ord_visible_123' })], workflow('ex_a'));
    expect(text(sealed!.metadata!.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed!.metadata![TENANT_METADATA])).toBe(A);
    expect(text(sealed!.metadata![FORMAT_METADATA])).toBe('2');
    expect(text(sealed!.metadata![KEY_ID_METADATA])).toBe(newKey.id);
    expect(Buffer.from(sealed!.data!).toString('latin1')).not.toContain('ord_visible_123');
    expect(value((await codec.decode([sealed!]))[0]!)).toEqual({ orderId: 'ord_visible_123' });
    // Activities of the run and its child runs belong to the same tenant.
    const [byActivity] = await codec.encode([plain(1)], { type: 'activity', namespace: 'default', workflowId: 'ex_b.map.3', activityId: '7', isLocal: false });
    expect(text(byActivity!.metadata![TENANT_METADATA])).toBe(B);
  });

  it("opens tenant A's payload for A only; B gets it back unchanged, still encrypted", async () => {
    const { codec } = codecWithTenants();
    const [sealed] = await codec.encode([plain('for A')], workflow('ex_a'));
    expect(value((await codec.decodeForTenant([sealed!], A))[0]!)).toBe('for A');
    const [asB] = await codec.decodeForTenant([sealed!], B);
    expect(asB).toBe(sealed);
    // One foreign payload does not spoil the batch: B's own payload next to it opens.
    const [ofB] = await codec.encodeForTenant([plain('for B')], B);
    const mixed = await codec.decodeForTenant([sealed!, ofB!], B);
    expect(mixed[0]).toBe(sealed);
    expect(value(mixed[1]!)).toBe('for B');
  });

  it('refuses a payload whose tenant metadata was altered (the tenant is in the AAD and the key)', async () => {
    const { codec } = codecWithTenants();
    const [sealed] = await codec.encode([plain('for A')], workflow('ex_a'));
    const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, [TENANT_METADATA]: Buffer.from(B) } };
    // Relabelled for B, B's decode tries it, and it does not authenticate; nor in a process.
    await expect(codec.decodeForTenant([relabelled], B)).rejects.toThrow(/does not authenticate/);
    await expect(codec.decode([relabelled])).rejects.toThrow(/does not authenticate/);
    const upperCased = { ...sealed!, metadata: { ...sealed!.metadata, [TENANT_METADATA]: Buffer.from(A.toUpperCase()) } };
    await expect(codec.decode([upperCased])).rejects.toThrow(/does not authenticate/);
    // Dropping the format metadata makes it format 1: another AAD and key, no authentication.
    const { [FORMAT_METADATA]: _format, ...noFormat } = sealed!.metadata!;
    await expect(codec.decode([{ ...sealed!, metadata: noFormat }])).rejects.toThrow(/does not authenticate/);
    const junk = { ...sealed!, metadata: { ...sealed!.metadata, [TENANT_METADATA]: Buffer.from('../../x') } };
    await expect(codec.decode([junk])).rejects.toThrow(/valid tenant/);
    const future = { ...sealed!, metadata: { ...sealed!.metadata, [FORMAT_METADATA]: Buffer.from('3') } };
    await expect(codec.decode([future])).rejects.toThrow(/unknown encryption format/);
  });

  it('keeps decoding format-1 payloads in processes, and never opens them for a tenant', async () => {
    const { codec } = codecWithTenants();
    const legacy = legacyPayload({ before: 'tenants' });
    expect(value((await codec.decode([legacy]))[0]!)).toEqual({ before: 'tenants' });
    expect(value((await codec.decode([legacyPayload('old key', oldKey)]))[0]!)).toBe('old key');
    expect((await codec.decodeForTenant([legacy], A))[0]).toBe(legacy);
    // Payloads written before the codec was switched on pass through, for everyone.
    const unencrypted = plain('clear');
    expect((await codec.decode([unencrypted]))[0]).toBe(unencrypted);
    expect((await codec.decodeForTenant([unencrypted], A))[0]).toBe(unencrypted);
  });

  it('rotates: a payload sealed under the previous key opens; a dropped key is a clear error', async () => {
    const before = codecWithTenants(new Keyring(oldKey)).codec;
    const [byOld] = await before.encode([plain('rotated')], workflow('ex_a'));
    const { codec } = codecWithTenants(new Keyring(newKey, [oldKey]));
    expect(value((await codec.decodeForTenant([byOld!], A))[0]!)).toBe('rotated');
    await expect(codecWithTenants(new Keyring(newKey)).codec.decode([byOld!])).rejects.toThrow(/unknown key/);
  });

  it('seals for the platform scope when no one knows the tenant; no tenant opens those', async () => {
    const { codec } = codecWithTenants();
    const [external] = await codec.encode([plain('external')], workflow('started-by-go-client'));
    const [noContext] = await codec.encode([plain('no context')]);
    for (const sealed of [external!, noContext!]) {
      expect(text(sealed.metadata![TENANT_METADATA])).toBe(PLATFORM_SCOPE);
      expect((await codec.decodeForTenant([sealed], A))[0]).toBe(sealed);
    }
    expect(value((await codec.decode([external!]))[0]!)).toBe('external');
    await expect(codec.encodeForTenant([plain(1)], PLATFORM_SCOPE)).rejects.toThrow(/not a tenant/);
    const failing = new AesGcmPayloadCodec(new Keyring(newKey), new PayloadTenants(() => Promise.reject(new Error('database away'))));
    const [duringOutage] = await failing.encode([plain('x')], workflow('ex_a'));
    expect(text(duringOutage!.metadata![TENANT_METADATA])).toBe(PLATFORM_SCOPE);
  });

  it('looks a root run up once; a cache hit does no I/O; a worker learns tenants from what it decodes', async () => {
    const { codec, lookups } = codecWithTenants();
    await codec.encode([plain(1)], workflow('ex_a'));
    await Promise.all([codec.encode([plain(2)], workflow('ex_a.child.n1')), codec.encode([plain(3)], workflow('ex_a.batch.0'))]);
    expect(lookups).toEqual(['ex_a']);
    await codec.encode([plain(4)], workflow('ex_unknown'));
    await codec.encode([plain(5)], workflow('ex_unknown'));
    expect(lookups).toEqual(['ex_a', 'ex_unknown']); // an unknown root is asked again only after a while

    // A process without any lookup (a worker before its first query) learns from decoding.
    const learner = new AesGcmPayloadCodec(new Keyring(newKey, [oldKey]), new PayloadTenants());
    const [input] = await codec.encode([plain('input')], workflow('ex_b'));
    await learner.decode([input!], workflow('ex_b'));
    const [result] = await learner.encode([plain('result')], { type: 'activity', namespace: 'default', workflowId: 'ex_b.child', activityId: '1', isLocal: true });
    expect(text(result!.metadata![TENANT_METADATA])).toBe(B);
    expect(rootExecutionId('ex_sch_abc-2026-01-01T00:00:00Z.map.2')).toBe('ex_sch_abc-2026-01-01T00:00:00Z');
  });

  it('bounds the tenant cache', () => {
    const tenants = new PayloadTenants(undefined, 2);
    tenants.remember('ex_1', A);
    tenants.remember('ex_2', A);
    tenants.remember('ex_3', B);
    expect([tenants.peek('ex_1'), tenants.peek('ex_2'), tenants.peek('ex_3.x')]).toEqual([undefined, A, B]);
  });

  it("learns the tenant of each dagWorkflow a Trellis client starts, before the start encodes its input", async () => {
    const { codec, tenants, lookups } = codecWithTenants();
    const interceptor = rememberStartedTenants(tenants);
    const start = (workflowType: string, workflowId: string, args: unknown[]) =>
      interceptor.start!({ workflowType, headers: {}, options: { workflowId, taskQueue: 'q', args } as never }, async (input) => {
        const [sealed] = await codec.encode([plain(input.options.args)], workflow(input.options.workflowId));
        return text(sealed!.metadata![TENANT_METADATA]);
      });
    expect(await start(DAG_WORKFLOW_TYPE, 'ex_new', [{ tenantId: B, workflowId: 'wf_1' }])).toBe(B);
    expect(lookups).toEqual([]); // from memory: the API's start path does no lookup
    // Without a tenant (a workflowId start) or for another workflow type: the lookup decides.
    expect(await start(DAG_WORKFLOW_TYPE, 'ex_a', [{ workflowId: 'wf_1' }])).toBe(A);
    expect(await start('otherWorkflow', 'ex_other', [{ tenantId: B }])).toBe(PLATFORM_SCOPE);
    expect(lookups).toEqual(['ex_a', 'ex_other']);
  });
});
