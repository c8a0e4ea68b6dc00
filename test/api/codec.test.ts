import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPayloadConverter } from '@temporalio/common';
import { createTestApi, type TestApi } from '../support/api';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING, PLATFORM_SCOPE, TENANT_METADATA, payloadCodec } from '../../src/crypto/payload-codec';
import { Keyring, generateKeyText, parseKey, seal } from '../../src/crypto/keyring';
import { databaseTenantLookup, PROCESS_PAYLOAD_TENANTS } from '../../src/crypto/payload-tenants';
import { temporal } from '@temporalio/proto';

const oldKey = parseKey(generateKeyText(), 'old');
const newKey = parseKey(generateKeyText(), 'new');
const codec = new AesGcmPayloadCodec(new Keyring(newKey, [oldKey]));

describe('AES-256-GCM payload codec', () => {
  it('round-trips payloads (process decode); the key id travels in metadata and old keys still decrypt', async () => {
    const payload = defaultPayloadConverter.toPayload({ orderId: 'ord_visible_123', total: 42 });
    const [encoded] = await codec.encode([payload]);
    expect(Buffer.from(encoded!.metadata!.encoding!).toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(encoded!.metadata!['encryption-key-id']!).toString()).toBe(newKey.id);
    expect(Buffer.from(encoded!.data!).toString('latin1')).not.toContain('ord_visible_123');
    const [decoded] = await codec.decode([encoded!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({ orderId: 'ord_visible_123', total: 42 });

    const [byOld] = await new AesGcmPayloadCodec(new Keyring(oldKey)).encode([payload]);
    expect(defaultPayloadConverter.fromPayload((await codec.decode([byOld!]))[0]!)).toEqual({ orderId: 'ord_visible_123', total: 42 });
    // Unencrypted payloads (written before the codec was on) pass through.
    expect(await codec.decode([payload])).toEqual([payload]);
    // A key that was dropped from the ring: a clear error, not garbage.
    await expect(new AesGcmPayloadCodec(new Keyring(newKey)).decode([byOld!])).rejects.toThrow(/unknown key/);
  });

  it('is off without TRELLIS_PAYLOAD_KEY', () => {
    expect(payloadCodec({})).toBeUndefined();
    expect(payloadCodec({ TRELLIS_PAYLOAD_KEY: generateKeyText() })).toBeInstanceOf(AesGcmPayloadCodec);
  });
});

describe('/codec/encode and /codec/decode', () => {
  let api: TestApi;
  let off: TestApi;
  beforeAll(async () => {
    api = await createTestApi({ payloadCodec: codec });
    off = await createTestApi();
  });
  afterAll(async () => {
    await api?.close();
    await off?.close();
  });
  const wire = (p: { metadata?: Record<string, Uint8Array | null | undefined> | null; data?: Uint8Array | null }) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
    data: Buffer.from(p.data!).toString('base64'),
  });

  it('encodes and decodes in the Temporal codec-server shape, behind the API key, with CORS for the UI', async () => {
    const plain = wire(defaultPayloadConverter.toPayload({ hello: 'world' }));
    const encoded = await api.request({ method: 'POST', url: '/codec/encode', payload: { payloads: [plain] }, headers: { origin: 'http://localhost:8080' } });
    expect(encoded.statusCode, encoded.body).toBe(200);
    expect(encoded.headers['access-control-allow-origin']).toBe('http://localhost:8080');
    const sealed = encoded.json().payloads[0];
    expect(Buffer.from(sealed.metadata.encoding, 'base64').toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(sealed.metadata[TENANT_METADATA], 'base64').toString()).toBe(api.acmeTenantId);
    const decoded = await api.request({ method: 'POST', url: '/codec/decode', payload: { payloads: [sealed] } });
    expect(decoded.json().payloads[0]).toEqual(plain);
    // Another tenant's key gets it back as it was, still encrypted.
    const foreign = await api.request({ method: 'POST', url: '/codec/decode', payload: { payloads: [sealed] }, headers: { authorization: `Bearer ${api.otherKey}` } });
    expect(foreign.statusCode, foreign.body).toBe(200);
    expect(foreign.json().payloads[0]).toEqual(sealed);

    const anonymous = await api.app.inject({ method: 'POST', url: '/codec/decode', payload: { payloads: [sealed] } });
    expect(anonymous.statusCode).toBe(401);
    const preflight = await api.app.inject({ method: 'OPTIONS', url: '/codec/decode', headers: { origin: 'http://localhost:8080', 'access-control-request-method': 'POST' } });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('http://localhost:8080');
    expect(String(preflight.headers['access-control-allow-headers'])).toContain('x-namespace');
    const stranger = await api.app.inject({ method: 'OPTIONS', url: '/codec/decode', headers: { origin: 'https://evil.example' } });
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('lets the Temporal Web UI authenticate with the codec session cookie (it cannot send a Bearer header)', async () => {
    const session = await api.request({ method: 'POST', url: '/codec/session', headers: { origin: 'http://localhost:8080' } });
    expect(session.statusCode).toBe(204);
    const setCookie = String(session.headers['set-cookie']);
    expect(setCookie).toMatch(/^trellis_codec_key=trl_[^;]+; Path=\/codec; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    const cookie = setCookie.split(';')[0]!;
    const [sealed] = await codec.encodeForTenant([defaultPayloadConverter.toPayload('via cookie')], api.acmeTenantId);
    const decoded = await api.app.inject({ method: 'POST', url: '/codec/decode', payload: { payloads: [wire(sealed!)] }, headers: { cookie, origin: 'http://localhost:8080' } });
    expect(decoded.statusCode, decoded.body).toBe(200);
    expect(defaultPayloadConverter.fromPayload({ metadata: { encoding: Buffer.from(decoded.json().payloads[0].metadata.encoding, 'base64') }, data: Buffer.from(decoded.json().payloads[0].data, 'base64') })).toBe('via cookie');
    expect(decoded.headers['access-control-allow-credentials']).toBe('true');
    const forged = await api.app.inject({ method: 'POST', url: '/codec/decode', payload: { payloads: [] }, headers: { cookie: 'trellis_codec_key=trl_forged' } });
    expect(forged.statusCode).toBe(401);
    const anonymousSession = await api.app.inject({ method: 'POST', url: '/codec/session' });
    expect(anonymousSession.statusCode).toBe(401);
  });

  it("opens a run's payloads, sealed by a process for the run's tenant, for that tenant's key only", async () => {
    const created = await api.request({ method: 'POST', url: '/workflows', payload: { name: 'sealed', definition: { name: 'sealed', nodes: [{ id: 'a', type: 'noop' }] } } });
    expect(created.statusCode, created.body).toBe(201);
    const started = await api.request({ method: 'POST', url: '/executions', payload: { workflowId: created.json().id, input: { orderId: 'ord_1' } } });
    expect(started.statusCode, started.body).toBe(202);
    const executionId: string = started.json().id;
    // The process codec (API client, worker) finds the tenant in Postgres from the workflow id.
    expect(await databaseTenantLookup(api.database.db)(executionId)).toBe(api.acmeTenantId);
    const processCodec = new AesGcmPayloadCodec(new Keyring(newKey, [oldKey]));
    const [sealed] = await processCodec.encode([defaultPayloadConverter.toPayload({ orderId: 'ord_1' })], { type: 'workflow', namespace: 'default', workflowId: `${executionId}.child.a` });
    expect(Buffer.from(sealed!.metadata![TENANT_METADATA]!).toString()).toBe(api.acmeTenantId);
    const asAcme = await api.request({ method: 'POST', url: '/codec/decode', payload: { payloads: [wire(sealed!)] } });
    expect(Buffer.from(asAcme.json().payloads[0].data, 'base64').toString()).toContain('ord_1');
    const asGlobex = await api.request({ method: 'POST', url: '/codec/decode', payload: { payloads: [wire(sealed!)] }, headers: { authorization: `Bearer ${api.otherKey}` } });
    expect(asGlobex.json().payloads[0]).toEqual(wire(sealed!));
    // A run no one knows (started outside Trellis) is sealed for the platform: no tenant opens it.
    const [external] = await processCodec.encode([defaultPayloadConverter.toPayload('x')], { type: 'workflow', namespace: 'default', workflowId: 'ex_not_a_run' });
    expect(Buffer.from(external!.metadata![TENANT_METADATA]!).toString()).toBe(PLATFORM_SCOPE);
    expect((await api.request({ method: 'POST', url: '/codec/decode', payload: { payloads: [wire(external!)] } })).json().payloads[0]).toEqual(wire(external!));
    // A scheduled run's id resolves through its schedule.
    const schedule = await api.request({ method: 'POST', url: `/workflows/${created.json().id}/schedules`, payload: { cron: '@hourly' } });
    expect(schedule.statusCode, schedule.body).toBe(201);
    expect(await databaseTenantLookup(api.database.db)(`ex_${schedule.json().id}-2026-01-01T00:00:00Z`)).toBe(api.acmeTenantId);
    expect(PROCESS_PAYLOAD_TENANTS.peek(executionId)).toBe(api.acmeTenantId);
  });

  it('does not open payloads written before payloads were per tenant for any tenant key', async () => {
    const legacy = {
      metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING), 'encryption-key-id': Buffer.from(newKey.id) },
      data: seal(newKey.key, Buffer.from(temporal.api.common.v1.Payload.encode(defaultPayloadConverter.toPayload('old run')).finish()), 'trellis-payload'),
    };
    const res = await api.request({ method: 'POST', url: '/codec/decode', payload: { payloads: [wire(legacy)] } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().payloads[0]).toEqual(wire(legacy));
    expect(defaultPayloadConverter.fromPayload((await codec.decode([legacy]))[0]!)).toBe('old run');
  });

  it('answers 400 for payloads of the caller that do not decrypt and 503 when the codec is off', async () => {
    const garbage = {
      metadata: {
        encoding: Buffer.from(ENCRYPTED_ENCODING).toString('base64'),
        'encryption-key-id': Buffer.from(newKey.id).toString('base64'),
        'encryption-format': Buffer.from('2').toString('base64'),
        [TENANT_METADATA]: Buffer.from(api.acmeTenantId).toString('base64'),
      },
      data: 'AAAA',
    };
    const bad = await api.request({ method: 'POST', url: '/codec/decode', payload: { payloads: [garbage] } });
    expect(bad.statusCode).toBe(400);
    const res = await off.request({ method: 'POST', url: '/codec/decode', payload: { payloads: [] } });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('CODEC_UNAVAILABLE');
  });
});
