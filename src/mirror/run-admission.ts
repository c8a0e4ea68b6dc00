import type pg from 'pg';
import { sqlPool, type Db } from '../db/client';

/*
 * The per-tenant cap on runs in progress (TRELLIS_MAX_RUNNING_PER_TENANT), exact across any
 * number of API processes and workers. Every statement that makes a run RUNNING (the API's
 * start, the revival of a start that never reached Temporal, the worker's reservation for a run
 * Temporal started: schedule, child, external client) runs inside `withRunAdmission`: a
 * transaction holding the tenant's advisory lock, so the count it makes and the row it writes
 * are one step no other admission of that tenant interleaves with. In READ COMMITTED each
 * statement takes its snapshot when it starts, after the lock was granted, so it sees every row
 * an earlier holder committed. Finishing needs no lock: a run stops counting the moment its row
 * leaves RUNNING, whoever writes that (the workflow, the reconciler, a failed start).
 */

/** Locks the tenants' admission in a stable order (two batches of different tenants never deadlock). */
const LOCK_TENANTS = {
  name: 'trellis_run_admission_lock_v1',
  text: `SELECT pg_advisory_xact_lock(hashtext('trellis.running'), hashtext(t)) FROM (SELECT DISTINCT unnest($1::text[]) AS t ORDER BY 1) s`,
};

/** Runs `work` in a transaction holding the admission lock of every tenant named. */
export async function withRunAdmission<T>(pool: pg.Pool, tenantIds: readonly string[], work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query({ ...LOCK_TENANTS, values: [[...new Set(tenantIds)].sort()] });
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
    throw err;
  } finally {
    // A connection whose ROLLBACK failed is in an unknown state: the pool drops it.
    client.release(broken);
  }
}

/** RUNNING rows of the tenant, inside an admission transaction. */
async function countRunningIn(client: pg.PoolClient, tenantId: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>({
    name: 'trellis_count_running_v1',
    text: `SELECT count(*)::int AS n FROM executions WHERE tenant_id = $1::uuid AND status = 'RUNNING'`,
    values: [tenantId],
  });
  return rows[0]!.n;
}

/** A run Temporal started (schedule, child, external client) asking for its slot. */
export interface RunReservation {
  executionId: string;
  temporalRunId: string;
  tenantId: string;
  workflowId: string;
  version: number;
}

export type Admission = { admitted: true } | { admitted: false; running: number; limit: number };

/**
 * The worker's admission for a run it did not see start: when the run has no row yet, it gets
 * one (RUNNING, trigger EXTERNAL until recordRun fills in what the workflow knows) only if the
 * tenant is below `limit`. A run that already has a row (the API wrote it under this same
 * admission, or an earlier attempt of this activity did) holds its slot already.
 */
export async function reserveRun(db: Db, run: RunReservation, limit: number): Promise<Admission> {
  return withRunAdmission(sqlPool(db), [run.tenantId], async (client) => {
    const existing = await client.query({ text: 'SELECT 1 FROM executions WHERE id = $1', values: [run.executionId] });
    if (existing.rowCount) return { admitted: true };
    const running = await countRunningIn(client, run.tenantId);
    if (running >= limit) return { admitted: false, running, limit };
    await client.query({
      name: 'trellis_reserve_run_v1',
      text: `
        INSERT INTO executions (id, tenant_id, workflow_id, version, status, trigger, temporal_run_id, updated_at)
        VALUES ($1, $2::uuid, $3, $4, 'RUNNING', 'EXTERNAL', $5, now())`,
      values: [run.executionId, run.tenantId, run.workflowId, run.version, run.temporalRunId],
    });
    return { admitted: true };
  });
}

/**
 * Makes a run whose start never reached Temporal RUNNING again, if the tenant is below `limit`.
 * `revived` is false when the row was not in that state any more (nothing changed).
 */
export async function reviveStartFailedWithin(
  db: Db,
  run: { id: string; tenantId: string },
  limit: number,
): Promise<{ revived: boolean } & Admission> {
  return withRunAdmission(sqlPool(db), [run.tenantId], async (client) => {
    const running = await countRunningIn(client, run.tenantId);
    if (running >= limit) return { revived: false, admitted: false, running, limit };
    const { rowCount } = await client.query({
      text: `UPDATE executions SET status = 'RUNNING', error = NULL, finished_at = NULL, updated_at = now()
             WHERE id = $1 AND tenant_id = $2::uuid AND status = 'FAILED' AND last_seq = 0`,
      values: [run.id, run.tenantId],
    });
    return { revived: (rowCount ?? 0) > 0, admitted: true };
  });
}
