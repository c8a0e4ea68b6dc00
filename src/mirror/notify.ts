import type { Db } from '../db/client';
import { Prisma } from '../generated/prisma/client';

/**
 * The NOTIFY protocol between mirror writers and live readers (SSE), in one place. A notice is
 * sent only once the rows it announces are committed, so a reader never looks too early: the
 * run mirror's hot writes announce theirs through a TransitionNotifier (after their commit, many
 * per statement), rarer writes (the reconciler, map items) inside their own statement.
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

/**
 * Transition notices of one process, sent after the writes they announce have committed:
 * coalesced per run (the highest seq), many runs per statement (what arrives within 5 ms, and
 * whatever arrives while a statement is out), so a busy worker sends one NOTIFY statement per
 * few milliseconds rather than one per write.
 *
 * Why not inside the writes: a transaction that notifies takes one database-wide lock from its
 * pre-commit until its commit is flushed, so every notifying write of every run commits one
 * after another behind it (issue 26). Here only the notice statements queue on that lock, and
 * they commit without waiting for the WAL flush: a notice lost to a Postgres crash is one the
 * readers do not need, as they re-read everything past their last seq when their LISTEN
 * connection comes back. A notice lost with this process (killed between a write and its
 * notice) delays a reader until the run's next notice; the next write of the run (a retried
 * workflow task writes again) announces a higher seq, and readers re-read everything past the
 * last seq they sent, so nothing is skipped.
 */
/** How long a notice waits for others to share its statement (readers' lag, against commits per node). */
const NOTICE_WINDOW_MS = 5;

export class TransitionNotifier {
  private pending = new Map<string, number>();
  private sending = false;

  constructor(private readonly db: Db) {}

  /** Announces that `executionId`'s rows up to `seq` are committed. */
  announce(executionId: string, seq: number): void {
    if ((this.pending.get(executionId) ?? -1) < seq) this.pending.set(executionId, seq);
    if (this.sending) return;
    this.sending = true;
    // Announcements of the next few milliseconds (other runs' writes) leave in one statement.
    setTimeout(() => void this.send(), NOTICE_WINDOW_MS);
  }

  /** Resolves once every notice announced so far was sent or dropped (tests). */
  async idle(): Promise<void> {
    while (this.sending) await new Promise((resolve) => setTimeout(resolve, 1));
  }

  private async send(): Promise<void> {
    while (this.pending.size > 0) {
      const notices = [...this.pending].map(([executionId, seq]) => JSON.stringify({ executionId, seq }));
      this.pending = new Map();
      try {
        await this.db.$queryRaw`
          SELECT pg_notify(${EVENTS_CHANNEL}, notice)::text AS notified
          FROM json_array_elements_text(${JSON.stringify(notices)}::json) AS notice
          WHERE set_config('synchronous_commit', 'off', true) IS NOT NULL`;
      } catch {
        // Postgres is away: the readers' LISTEN connections dropped too, and they re-read on reconnect.
      }
    }
    this.sending = false;
  }
}

const notifiers = new WeakMap<Db, TransitionNotifier>();

/** The process's notifier for this database (one per client, shared by every writer using it). */
export function transitionNotifier(db: Db): TransitionNotifier {
  let notifier = notifiers.get(db);
  if (!notifier) notifiers.set(db, (notifier = new TransitionNotifier(db)));
  return notifier;
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
