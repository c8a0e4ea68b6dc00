import type { Payload } from '@temporalio/common';
import type { TrellisConfig } from '../config';
import { PAYLOAD_KEY_ENV, payloadCodec } from '../crypto/payload-codec';

export const CODEC_USAGE = `  codec decode                            decode Temporal codec-server JSON ({"payloads": [...]}) from stdin with
                                          ${PAYLOAD_KEY_ENV}: every tenant's, the platform's and pre-tenant payloads`;

interface Io {
  out(line: string): void;
  usage(message: string): Error;
  stdin?: () => Promise<string>;
}

/** Codec-server JSON beyond this is refused (a history's payloads fit easily). */
const MAX_INPUT_BYTES = 64 * 1024 * 1024;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_INPUT_BYTES) throw new Error(`stdin is larger than ${MAX_INPUT_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

type WirePayload = { metadata?: Record<string, string>; data?: string };

const fromWire = (p: WirePayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64')])),
  data: Buffer.from(String(p.data ?? ''), 'base64'),
});
const toWire = (p: Payload): WirePayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/**
 * `trellis codec decode`: the operator's decoder. /codec/decode opens only the caller tenant's
 * payloads; this opens whatever the deployment's payload keys can (it is a process holding the
 * keys, like a worker), including payloads sealed for the platform scope and those written
 * before payloads were per tenant. The keys come from the validated `config`.
 */
export async function runCodec(args: string[], config: TrellisConfig, io: Io): Promise<void> {
  const [action, ...extra] = args;
  if (action !== 'decode' || extra.length > 0) throw io.usage('expected: trellis codec decode (codec-server JSON on stdin)');
  const codec = payloadCodec(config);
  if (!codec) throw io.usage(`${PAYLOAD_KEY_ENV} is not set: nothing to decode with`);
  let body: { payloads?: unknown };
  try {
    body = JSON.parse(await (io.stdin ?? readStdin)()) as { payloads?: unknown };
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('stdin is larger')) throw err;
    throw io.usage('stdin is not JSON: expected {"payloads": [...]} as the Temporal codec server protocol sends it');
  }
  if (!Array.isArray(body?.payloads) || body.payloads.some((p) => !p || typeof p !== 'object')) throw io.usage('expected {"payloads": [...]} on stdin');
  const decoded = await codec.decode((body.payloads as WirePayload[]).map(fromWire));
  io.out(JSON.stringify({ payloads: decoded.map(toWire) }));
}
