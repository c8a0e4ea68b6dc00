import { Prisma } from '../generated/prisma/client';

/**
 * The NOTIFY protocol between mirror writers and live readers (SSE), in one place. Every notice
 * is sent by the statement that writes the rows it announces: it is delivered on commit, so a
 * reader never looks too early, and it costs no commit of its own (issue 26: notices sent in
 * statements of their own after the writes cost 0.5-1 commit per node).
 */
export const EVENTS_CHANNEL = 'trellis_execution_events';

/**
 * What a notice says. `seq`: the highest sequence number the write applied for the run (readers
 * re-read every row past the last seq they sent). `items`: a batch of a map node's item rows was
 * written (no seq: item rows are not ordered transitions).
 */
export type MirrorNotice = { executionId: string; seq: number; items?: undefined } | { executionId: string; items: string; seq?: undefined };

/** `pg_notify(...)` for a run transition up to `seq`, to embed in the statement that writes it. */
export function notifyTransition(executionId: string, seq: number): Prisma.Sql {
  return Prisma.sql`pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify({ executionId, seq })})`;
}

/** `pg_notify(...)` for a batch of a map node's items. */
export function notifyItems(executionId: string, nodeId: string): Prisma.Sql {
  return Prisma.sql`pg_notify(${EVENTS_CHANNEL}, ${JSON.stringify({ executionId, items: nodeId })})`;
}

/**
 * API-key revocations, so every API process drops its cached lookup of the key at once instead
 * of when the entry expires. The payload is the key's hash (what the caches are keyed by); it is
 * sent by the statement that revokes, so it is delivered on commit.
 */
export const API_KEYS_CHANNEL = 'trellis_api_keys';

/** A revocation notice's key hash, or undefined for anything that is not one. */
export function parseApiKeyNotice(payload: string): string | undefined {
  return /^[0-9a-f]{64}$/.test(payload) ? payload : undefined;
}

/** A notice's payload, or undefined for anything that is not one (a stray NOTIFY must not crash a listener). */
export function parseNotice(payload: string): MirrorNotice | undefined {
  let notice: { executionId?: unknown; seq?: unknown; items?: unknown };
  try {
    notice = JSON.parse(payload) as typeof notice;
  } catch {
    return undefined;
  }
  if (notice === null || typeof notice !== 'object' || typeof notice.executionId !== 'string') return undefined;
  if (typeof notice.items === 'string') return { executionId: notice.executionId, items: notice.items };
  if (typeof notice.seq === 'number') return { executionId: notice.executionId, seq: notice.seq };
  return undefined;
}
