import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../db/client';
import { storedBytesUsed, withinQuota, type Tx } from '../db/quotas';
import { QuotaExceeded, type QuotaLimits } from '../domain/quotas';
import { runHeavy } from './heavy-lane';

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
  /** `json`: the output's JSON text when the caller has it already (it measured the size with it). */
  save(executionId: string, nodeId: string, output: unknown, sizeBytes: number, tenantId?: string, json?: string): Promise<OutputRef>;
  /** The stored output, only when it belongs to `tenantId` (references are not trusted). */
  load(ref: OutputRef, tenantId?: string): Promise<unknown>;
}

export function isOutputRef(value: unknown): value is OutputRef {
  return value !== null && typeof value === 'object' && typeof (value as OutputRef).$trellisRef === 'string';
}

export class PrismaOutputStore implements OutputStore {
  constructor(
    private readonly db: Db,
    readonly thresholdBytes = DEFAULT_OFFLOAD_BYTES,
    /** The deployment's quotas (STORED_BYTES is the one used here); default: TRELLIS_QUOTA_* of this process. */
    private readonly quotas?: QuotaLimits,
  ) {}

  async save(executionId: string, nodeId: string, output: unknown, sizeBytes: number, tenantId?: string, json?: string): Promise<OutputRef> {
    const id = randomUUID();
    const text = json ?? (await runHeavy(() => JSON.stringify(output)));
    const row = { id, tenantId: tenantId ?? null, executionId, nodeId, sizeBytes };
    if (tenantId === undefined) {
      // A run started without a tenant (tests, tools) has no quota to count against.
      await insertBlob(this.db, row, text);
    } else {
      try {
        await withinQuota(this.db, {
          tenantId,
          quota: 'STORED_BYTES',
          amount: sizeBytes,
          ...(this.quotas && { defaults: this.quotas }),
          used: (tx) => storedBytesUsed(tx, tenantId),
          // The quota transaction reserves the bytes with an empty row; the text is written after
          // it, so the tenant's lock is not held while Postgres parses megabytes (eight 16 MiB
          // outputs of one tenant queued on the lock past the transaction timeout).
          store: (tx) => insertBlob(tx, row, 'null'),
        });
      } catch (err) {
        // Retrying cannot make room (only retention or deleted runs do): fail the node once, by name.
        if (err instanceof QuotaExceeded) {
          throw ApplicationFailure.create({
            type: 'QuotaExceeded',
            message: `node "${nodeId}": its output of ${sizeBytes} bytes is not stored: ${err.message}`,
            nonRetryable: true,
            details: [{ quota: err.quota, limit: err.limit, used: err.used }],
          });
        }
        throw err;
      }
    }
    if (tenantId !== undefined) await this.fill(id, text);
    // Only now is the reference handed out: nobody reads the reservation's empty data.
    return { $trellisRef: `output_blobs/${id}`, sizeBytes };
  }

  private async fill(id: string, text: string): Promise<void> {
    try {
      await this.db.$executeRaw`UPDATE output_blobs SET data = ${text}::jsonb WHERE id = ${id}::uuid`;
    } catch (err) {
      // Give the reserved bytes back; the attempt fails (and may retry) as the write did.
      await this.db.$executeRaw`DELETE FROM output_blobs WHERE id = ${id}::uuid`.catch(() => undefined);
      throw err;
    }
  }

  async load(ref: OutputRef, tenantId?: string): Promise<unknown> {
    const id = ref.$trellisRef.replace(/^output_blobs\//, '');
    // A reference is only a claim: it may have been typed into a definition or an input. Only
    // the run's own tenant's outputs are found, and another tenant's look exactly like none.
    const rows = UUID.test(id)
      ? await this.db.$queryRaw<{ data: string }[]>`
          SELECT data::text AS data FROM output_blobs WHERE id = ${id}::uuid AND tenant_id IS NOT DISTINCT FROM ${tenantId ?? null}::uuid`
      : [];
    const row = rows[0];
    if (!row) throw new StoredOutputNotFound(ref.$trellisRef);
    return runHeavy(() => JSON.parse(row.data) as unknown);
  }
}

/**
 * The output as JSON text cast to jsonb by Postgres. Prisma's own Json column write took 7-12 s
 * for a 16 MiB output and blocked the worker's event loop for seconds of it (every other
 * activity missed its heartbeats); the text is built once, in the heavy lane, and parsed by
 * Postgres. Reads come back as text and are parsed in the lane for the same reason.
 */
async function insertBlob(
  db: Db | Tx,
  row: { id: string; tenantId: string | null; executionId: string; nodeId: string; sizeBytes: number },
  text: string,
): Promise<void> {
  await db.$executeRaw`
    INSERT INTO output_blobs (id, tenant_id, execution_id, node_id, data, size_bytes)
    VALUES (${row.id}::uuid, ${row.tenantId}::uuid, ${row.executionId}, ${row.nodeId}, ${text}::jsonb, ${row.sizeBytes})`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class StoredOutputNotFound extends Error {
  constructor(ref: string) {
    super(`stored output ${ref} not found for this run's tenant`);
    this.name = 'StoredOutputNotFound';
  }
}

/** Replaces every reference inside a config value with the stored output it names (the run's tenant's only). */
export async function resolveOutputRefs(value: unknown, store: OutputStore, tenantId?: string): Promise<unknown> {
  if (isOutputRef(value)) return store.load(value, tenantId);
  if (Array.isArray(value)) return Promise.all(value.map((v) => resolveOutputRefs(v, store, tenantId)));
  if (value !== null && typeof value === 'object') {
    const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await resolveOutputRefs(v, store, tenantId)] as const));
    return Object.fromEntries(entries);
  }
  return value;
}
