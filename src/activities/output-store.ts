import { randomUUID } from 'node:crypto';
import type { Db } from '../db/client';

/** What travels through Temporal in place of a large node output. */
export interface OutputRef {
  $trellisRef: string;
  sizeBytes: number;
}

export const DEFAULT_OFFLOAD_BYTES = 256 * 1024;

/**
 * Keeps node outputs over a threshold out of Temporal payloads (2 MB limit per payload, and
 * every byte is in the history): the output goes to Postgres and the run carries a reference
 * that activities resolve when it reaches their config.
 */
export interface OutputStore {
  thresholdBytes: number;
  save(executionId: string, nodeId: string, output: unknown, sizeBytes: number): Promise<OutputRef>;
  load(ref: OutputRef): Promise<unknown>;
}

export function isOutputRef(value: unknown): value is OutputRef {
  return value !== null && typeof value === 'object' && typeof (value as OutputRef).$trellisRef === 'string';
}

export class PrismaOutputStore implements OutputStore {
  constructor(
    private readonly db: Db,
    readonly thresholdBytes = DEFAULT_OFFLOAD_BYTES,
  ) {}

  async save(executionId: string, nodeId: string, output: unknown, sizeBytes: number): Promise<OutputRef> {
    const id = randomUUID();
    await this.db.outputBlob.create({ data: { id, executionId, nodeId, data: output as object, sizeBytes } });
    return { $trellisRef: `output_blobs/${id}`, sizeBytes };
  }

  async load(ref: OutputRef): Promise<unknown> {
    const id = ref.$trellisRef.replace(/^output_blobs\//, '');
    const row = await this.db.outputBlob.findUnique({ where: { id } });
    if (!row) throw new Error(`stored output ${ref.$trellisRef} not found`);
    return row.data;
  }
}

/** Replaces every reference inside a config value with the stored output it names. */
export async function resolveOutputRefs(value: unknown, store: OutputStore): Promise<unknown> {
  if (isOutputRef(value)) return store.load(value);
  if (Array.isArray(value)) return Promise.all(value.map((v) => resolveOutputRefs(v, store)));
  if (value !== null && typeof value === 'object') {
    const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await resolveOutputRefs(v, store)] as const));
    return Object.fromEntries(entries);
  }
  return value;
}
