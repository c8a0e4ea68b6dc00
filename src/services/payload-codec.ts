import fs from 'node:fs';
import path from 'node:path';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec, ValueError } from '@temporalio/common';
import { decode as utf8Decode, encode as utf8Encode } from '@temporalio/common/lib/encoding';
import { temporal } from '@temporalio/proto';
import { Keyring, open, seal } from './keyring';

/**
 * Defence in depth for everything Trellis sends through Temporal (DESIGN.md §1 "Secrets" keeps
 * secret values out of history; this keeps the rest of the data unreadable there too): every
 * payload is sealed with AES-256-GCM under TRELLIS_PAYLOAD_KEY, the key's fingerprint in its
 * metadata; TRELLIS_PREVIOUS_PAYLOAD_KEYS still decrypt, so keys rotate without breaking old runs.
 */
export const PAYLOAD_KEY_ENV = 'TRELLIS_PAYLOAD_KEY';
export const PREVIOUS_PAYLOAD_KEYS_ENV = 'TRELLIS_PREVIOUS_PAYLOAD_KEYS';
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const AAD = 'trellis-payload';

/**
 * The failure converter the workflow bundle and the workers use with the codec: messages and
 * stack traces go into the (encrypted) encoded attributes instead of plain failure fields.
 */
export const ENCODED_FAILURE_CONVERTER_PATH = ((base) => ['.js', '.ts'].map((ext) => base + ext).find((p) => fs.existsSync(p)) ?? `${base}.js`)(
  path.join(__dirname, '..', 'workflows', 'encoded-failure-converter'),
);

export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(private readonly keys: Keyring) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keys.current;
    return payloads.map((payload) => ({
      metadata: { [METADATA_ENCODING_KEY]: utf8Encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8Encode(id) },
      data: seal(key, Buffer.from(temporal.api.common.v1.Payload.encode(payload).finish()), AAD),
    }));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      // Payloads written before the codec was switched on stay readable.
      if (!encoding || utf8Decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const idBytes = payload.metadata?.[KEY_ID_METADATA];
      if (!idBytes) throw new ValueError('encrypted payload without a key id');
      const id = utf8Decode(idBytes);
      const named = this.keys.get(id);
      if (!named) throw new ValueError(`payload encrypted with unknown key ${id} (add it to ${PREVIOUS_PAYLOAD_KEYS_ENV})`);
      if (!payload.data) throw new ValueError('encrypted payload without data');
      const plain = open(named.key, Buffer.from(payload.data), AAD);
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

export function payloadKeyring(env: NodeJS.ProcessEnv = process.env): Keyring | undefined {
  return Keyring.fromText(env[PAYLOAD_KEY_ENV], env[PREVIOUS_PAYLOAD_KEYS_ENV], PAYLOAD_KEY_ENV);
}

export function payloadCodec(env: NodeJS.ProcessEnv = process.env): AesGcmPayloadCodec | undefined {
  const keys = payloadKeyring(env);
  return keys ? new AesGcmPayloadCodec(keys) : undefined;
}

/** The data converter for Temporal clients (API, reconciler, CLI, schedules); `{}` without a key. */
export function clientDataConverter(env: NodeJS.ProcessEnv = process.env) {
  const codec = payloadCodec(env);
  return codec ? { payloadCodecs: [codec], failureConverterPath: ENCODED_FAILURE_CONVERTER_PATH } : {};
}

/** Origins allowed to call /codec/* from a browser (the Temporal Web UI); TRELLIS_CODEC_CORS_ORIGINS overrides. */
export function codecCorsOrigins(env: NodeJS.ProcessEnv = process.env): string[] {
  const configured = env.TRELLIS_CODEC_CORS_ORIGINS?.split(',').map((s) => s.trim()).filter(Boolean);
  return configured?.length ? configured : ['http://localhost:8080', 'http://127.0.0.1:8080', 'http://localhost:8233', 'http://127.0.0.1:8233'];
}
