import { setting, type Environment, type SettingValues } from '../config';
import fs from 'node:fs';
import path from 'node:path';
import { hkdfSync } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec, type SerializationContext, ValueError } from '@temporalio/common';
import { decode as utf8Decode, encode as utf8Encode } from '@temporalio/common/lib/encoding';
import { temporal } from '@temporalio/proto';
import { Keyring, open, seal } from './keyring';
import { contextWorkflowId, PROCESS_PAYLOAD_TENANTS, type PayloadTenants } from './payload-tenants';

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
/** Format 2 (per tenant): the tenant the payload is bound to, in metadata and in the AAD. */
export const FORMAT_METADATA = 'encryption-format';
export const TENANT_METADATA = 'encryption-tenant';
export const TENANT_FORMAT = '2';
/** The scope of payloads whose workflow no one could tie to a tenant: no tenant opens them. */
export const PLATFORM_SCOPE = 'platform';
/** Format 1 (before payloads were per tenant): one AAD for everything, still decoded by processes. */
const LEGACY_AAD = 'trellis-payload';
const tenantAad = (scope: string) => `trellis-payload/v${TENANT_FORMAT}/${scope}`;
/** Tenant ids are UUIDs; anything else in a payload's tenant metadata is refused before any crypto. */
const SCOPE = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|platform)$/i;

/**
 * The failure converter the workflow bundle and the workers use with the codec: messages and
 * stack traces go into the (encrypted) encoded attributes instead of plain failure fields.
 */
export const ENCODED_FAILURE_CONVERTER_PATH = ((base) => ['.js', '.ts'].map((ext) => base + ext).find((p) => fs.existsSync(p)) ?? `${base}.js`)(
  path.join(__dirname, '..', 'workflows', 'encoded-failure-converter'),
);

/** Who may open a payload: a trusted process opens every scope, a tenant only its own. */
type Reader = { kind: 'process' } | { kind: 'tenant'; tenantId: string };

/**
 * Seals each payload under a key derived (HKDF-SHA256) from the payload key and the scope — the
 * tenant of the payload's workflow, or "platform" — with the scope and format version in the
 * AAD, so neither the ciphertext nor its tenant metadata can be moved to another tenant. The
 * scope comes from the serialization context's workflow id through `tenants` (see
 * payload-tenants.ts). Decoding in a process (worker, API client, reconciler, CLI) opens every
 * scope and the format-1 payloads written before, and teaches `tenants` the tenant of each
 * workflow it reads; `decodeForTenant` (the /codec/decode route) opens only the caller's scope.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly derived = new Map<string, Buffer>();

  constructor(
    private readonly keys: Keyring,
    private readonly tenants: PayloadTenants = PROCESS_PAYLOAD_TENANTS,
  ) {}

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    const workflowId = contextWorkflowId(context);
    const tenantId = workflowId === undefined ? undefined : (this.tenants.peek(workflowId) ?? (await this.tenants.tenantOf(workflowId)));
    return this.encodeForScope(payloads, tenantId ?? PLATFORM_SCOPE);
  }

  /** Seals for one tenant, whatever the context (the /codec/encode route, for the caller). */
  async encodeForTenant(payloads: Payload[], tenantId: string): Promise<Payload[]> {
    if (!SCOPE.test(tenantId) || tenantId === PLATFORM_SCOPE) throw new ValueError('not a tenant id');
    return this.encodeForScope(payloads, tenantId);
  }

  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    const workflowId = contextWorkflowId(context);
    return payloads.map((payload) => {
      const opened = this.open(payload, { kind: 'process' });
      if (workflowId !== undefined && opened.scope !== undefined && opened.scope !== PLATFORM_SCOPE) this.tenants.remember(workflowId, opened.scope);
      return opened.payload;
    });
  }

  /**
   * Opens the payloads sealed for `tenantId`; every other payload (another tenant's, the
   * platform's, format 1, or not encrypted) comes back unchanged, so one foreign payload in the
   * Temporal Web UI's batch stays encrypted instead of failing the whole view.
   */
  async decodeForTenant(payloads: Payload[], tenantId: string): Promise<Payload[]> {
    return payloads.map((payload) => this.open(payload, { kind: 'tenant', tenantId }).payload);
  }

  private encodeForScope(payloads: Payload[], scope: string): Payload[] {
    const { id, key } = this.keys.current;
    const sealKey = this.keyFor(id, key, scope);
    return payloads.map((payload) => ({
      metadata: {
        [METADATA_ENCODING_KEY]: utf8Encode(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: utf8Encode(id),
        [FORMAT_METADATA]: utf8Encode(TENANT_FORMAT),
        [TENANT_METADATA]: utf8Encode(scope),
      },
      data: seal(sealKey, Buffer.from(temporal.api.common.v1.Payload.encode(payload).finish()), tenantAad(scope)),
    }));
  }

  /** The payload opened if `reader` may, with the scope it was sealed for (undefined: format 1). */
  private open(payload: Payload, reader: Reader): { payload: Payload; scope?: string } {
    const meta = payload.metadata ?? {};
    const encoding = meta[METADATA_ENCODING_KEY];
    // Payloads written before the codec was switched on stay readable.
    if (!encoding || utf8Decode(encoding) !== ENCRYPTED_ENCODING) return { payload };
    const format = meta[FORMAT_METADATA] ? utf8Decode(meta[FORMAT_METADATA]) : undefined;
    if (format !== undefined && format !== TENANT_FORMAT) throw new ValueError(`payload in unknown encryption format ${JSON.stringify(format.slice(0, 20))}`);
    const scope = format === undefined ? undefined : utf8Decode(meta[TENANT_METADATA] ?? new Uint8Array());
    if (scope !== undefined && !SCOPE.test(scope)) throw new ValueError('encrypted payload without a valid tenant');
    // A tenant opens only its own payloads; format 1 (no tenant bound) is not opened for tenants.
    if (reader.kind === 'tenant' && scope?.toLowerCase() !== reader.tenantId.toLowerCase()) return { payload };
    const idBytes = meta[KEY_ID_METADATA];
    if (!idBytes) throw new ValueError('encrypted payload without a key id');
    const id = utf8Decode(idBytes);
    const named = this.keys.get(id);
    if (!named) throw new ValueError(`payload encrypted with unknown key ${id} (add it to ${PREVIOUS_PAYLOAD_KEYS_ENV})`);
    if (!payload.data) throw new ValueError('encrypted payload without data');
    const plain =
      scope === undefined ? open(named.key, Buffer.from(payload.data), LEGACY_AAD) : open(this.keyFor(id, named.key, scope), Buffer.from(payload.data), tenantAad(scope));
    return { payload: temporal.api.common.v1.Payload.decode(plain) as Payload, ...(scope !== undefined && { scope }) };
  }

  /** The scope's key under one payload key: HKDF, cached (one entry per key and tenant seen). */
  private keyFor(id: string, key: Buffer, scope: string): Buffer {
    const name = `${id}/${scope}`;
    let derived = this.derived.get(name);
    if (!derived) {
      derived = Buffer.from(hkdfSync('sha256', key, 'trellis-payload-tenant-key', `${TENANT_FORMAT}/${scope}`, 32));
      if (this.derived.size >= 10_000) this.derived.delete(this.derived.keys().next().value!);
      this.derived.set(name, derived);
    }
    return derived;
  }
}

/** The payload key settings of a config (or a test's two values). */
export type PayloadKeySettings = Partial<Pick<SettingValues, 'TRELLIS_PAYLOAD_KEY' | 'TRELLIS_PREVIOUS_PAYLOAD_KEYS'>>;

/** The payload keys: of `settings` when given (the CLI's validated config, a test's), else of this process's settings. */
export function payloadKeyring(settings?: PayloadKeySettings): Keyring | undefined {
  if (settings) return Keyring.fromText(settings.TRELLIS_PAYLOAD_KEY, settings.TRELLIS_PREVIOUS_PAYLOAD_KEYS, PAYLOAD_KEY_ENV);
  return Keyring.fromText(setting('TRELLIS_PAYLOAD_KEY'), setting('TRELLIS_PREVIOUS_PAYLOAD_KEYS'), PAYLOAD_KEY_ENV);
}

export function payloadCodec(settings?: PayloadKeySettings): AesGcmPayloadCodec | undefined {
  const keys = payloadKeyring(settings);
  return keys ? new AesGcmPayloadCodec(keys) : undefined;
}

/** The data converter for Temporal clients (API, reconciler, CLI, schedules); `{}` without a key. */
export function clientDataConverter(settings?: PayloadKeySettings) {
  const codec = payloadCodec(settings);
  return codec ? { payloadCodecs: [codec], failureConverterPath: ENCODED_FAILURE_CONVERTER_PATH } : {};
}

/** Origins allowed to call /codec/* from a browser (the Temporal Web UI); TRELLIS_CODEC_CORS_ORIGINS overrides. */
export function codecCorsOrigins(env?: Environment): string[] {
  const configured = env ? env.TRELLIS_CODEC_CORS_ORIGINS?.split(',').map((s) => s.trim()).filter(Boolean) : [...setting('TRELLIS_CODEC_CORS_ORIGINS')];
  return configured?.length ? configured : ['http://localhost:8080', 'http://127.0.0.1:8080', 'http://localhost:8233', 'http://127.0.0.1:8233'];
}
