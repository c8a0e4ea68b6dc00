import { describe, expect, it } from 'vitest';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { runCodec } from '../../src/cli/codec-command';
import { loadConfig } from '../../src/config';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../../src/crypto/payload-codec';
import { PayloadTenants } from '../../src/crypto/payload-tenants';
import { Keyring, generateKeyText, parseKey, seal } from '../../src/crypto/keyring';

const keyText = generateKeyText();
const key = parseKey(keyText, 'payload');
const codec = new AesGcmPayloadCodec(new Keyring(key), new PayloadTenants(async () => '0b0c4f0e-4a57-4a1e-9d35-5b1a4c1e0a01'));
const wire = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
  data: Buffer.from(p.data!).toString('base64'),
});

async function decode(stdin: string, env: NodeJS.ProcessEnv = { TRELLIS_PAYLOAD_KEY: keyText }): Promise<string[]> {
  const lines: string[] = [];
  await runCodec(['decode'], loadConfig(env, { role: 'cli' }), { out: (l) => lines.push(l), usage: (m) => new Error(`usage: ${m}`), stdin: async () => stdin });
  return lines;
}

describe('trellis codec decode (the operator decoder)', () => {
  it("opens a tenant's, the platform's and a pre-tenant payload with the deployment's key", async () => {
    const [ofTenant] = await codec.encode([defaultPayloadConverter.toPayload('tenant')], { type: 'workflow', namespace: 'default', workflowId: 'ex_a' });
    const [ofPlatform] = await codec.encode([defaultPayloadConverter.toPayload('platform')]);
    const legacy: Payload = {
      metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: Buffer.from(key.id) },
      data: seal(key.key, Buffer.from(temporal.api.common.v1.Payload.encode(defaultPayloadConverter.toPayload('legacy')).finish()), 'trellis-payload'),
    };
    const [line] = await decode(JSON.stringify({ payloads: [ofTenant, ofPlatform, legacy].map((p) => wire(p!)) }));
    const out: { metadata: Record<string, string>; data: string }[] = JSON.parse(line!).payloads;
    expect(out.map((p) => defaultPayloadConverter.fromPayload({ metadata: { encoding: Buffer.from(p.metadata.encoding!, 'base64') }, data: Buffer.from(p.data, 'base64') }))).toEqual([
      'tenant',
      'platform',
      'legacy',
    ]);
  });

  it('says what is wrong: no key, not JSON, not the codec-server shape, a key that is not in the ring', async () => {
    await expect(decode('{"payloads":[]}', {})).rejects.toThrow(/TRELLIS_PAYLOAD_KEY is not set/);
    await expect(decode('not json')).rejects.toThrow(/not JSON/);
    await expect(decode('{"payloads":[1]}')).rejects.toThrow(/expected \{"payloads"/);
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload('x')]);
    await expect(decode(JSON.stringify({ payloads: [wire(sealed!)] }), { TRELLIS_PAYLOAD_KEY: generateKeyText() })).rejects.toThrow(/unknown key/);
  });
});
