import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { chain, median, round, type BenchEnv } from '../env';

/** Counters of the bench's Postgres: commits, tuple writes (this database), WAL bytes (the cluster). */
interface PgCounters {
  commits: number;
  tupleWrites: number;
  walBytes: number;
}

/**
 * Backends publish their statistics when idle at most every 10 s (PGSTAT_IDLE_INTERVAL), so a
 * snapshot taken sooner would miss the tail of a phase (or count it in the next one).
 */
const STATS_SETTLE_MS = 11_000;

async function pgCounters(admin: pg.Client): Promise<PgCounters> {
  await admin.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await admin.query<{ commits: string; tuple_writes: string; wal_bytes: string }>(`
    SELECT d.xact_commit AS commits, d.tup_inserted + d.tup_updated + d.tup_deleted AS tuple_writes, w.wal_bytes
    FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()`);
  const row = rows[0]!;
  return { commits: Number(row.commits), tupleWrites: Number(row.tuple_writes), walBytes: Number(row.wal_bytes) };
}

/**
 * BENCH_PG_DETAIL=1 (the bench's Postgres then loads pg_stat_statements): what the mirrored
 * phase spent, by statement (calls per node) and by WAL record kind (bytes per node, full-page
 * images apart), printed to stderr. Figures to find where commits and WAL go, not results.
 */
const detail = process.env.BENCH_PG_DETAIL === '1';

async function detailStart(admin: pg.Client): Promise<string | undefined> {
  if (!detail) return undefined;
  await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE EXTENSION IF NOT EXISTS pg_walinspect');
  await admin.query('SELECT pg_stat_statements_reset()');
  const { rows } = await admin.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return rows[0]!.lsn;
}

async function detailEnd(admin: pg.Client, startLsn: string | undefined, nodes: number): Promise<void> {
  if (startLsn === undefined) return;
  const statements = await admin.query<{ calls: string; query: string }>(`
    SELECT calls, left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 110) AS query FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'
    ORDER BY calls DESC LIMIT 25`);
  console.error('throughput detail: statements per node');
  for (const row of statements.rows) console.error(`  ${(Number(row.calls) / nodes).toFixed(3)}  ${row.query}`);
  const wal = await admin.query<{ resource_manager: string; record_length: string; fpi_length: string; count: string }>(
    `SELECT "resource_manager/record_type" AS resource_manager, count, record_size AS record_length, fpi_size AS fpi_length
     FROM pg_get_wal_stats($1::pg_lsn, pg_current_wal_lsn(), true) WHERE count > 0 ORDER BY combined_size DESC LIMIT 20`,
    [startLsn],
  );
  console.error('throughput detail: WAL per node (records, record bytes, full-page-image bytes)');
  for (const row of wal.rows) {
    const per = (v: string) => (Number(v) / nodes).toFixed(2);
    console.error(`  ${row.resource_manager.padEnd(28)} ${per(row.count)}  ${per(row.record_length)} B  ${per(row.fpi_length)} B FPI`);
  }
}

/**
 * Issue 26: the mirror under concurrency. `runs` concurrent runs of a 20-node chain of a no-op
 * activity, stored (every transition mirrored to Postgres) against the same chain inline (not
 * mirrored), in interleaved rounds; node throughput of each side, and what Postgres spent per
 * mirrored node (pg_stat_database / pg_stat_wal deltas over the mirrored phase).
 * BENCH_THROUGHPUT_RUNS overrides the 200 concurrent runs (a loaded machine takes minutes per round).
 */
export async function throughput(env: BenchEnv, rounds: number) {
  const runs = Number(process.env.BENCH_THROUGHPUT_RUNS ?? 200);
  const nodesPerRun = 20;
  const stored = await env.store(chain('benchNoop', nodesPerRun));
  const inline = chain('benchNoop', nodesPerRun);
  const admin = new pg.Client({ connectionString: env.databaseUrl, application_name: 'trellis-bench-stats' });
  await admin.connect();

  const phase = async (args: unknown[]): Promise<number> => {
    const started = performance.now();
    const handles = await Promise.all(
      Array.from({ length: runs }, () =>
        env.client.workflow.start('dagWorkflow', { taskQueue: env.taskQueue, workflowId: `bench-tp-${randomUUID()}`, args }),
      ),
    );
    await Promise.all(handles.map((h) => h.result()));
    return (runs * nodesPerRun) / ((performance.now() - started) / 1000);
  };
  const settle = () => new Promise((resolve) => setTimeout(resolve, STATS_SETTLE_MS));

  const mirrored: number[] = [];
  const unmirrored: number[] = [];
  const perNode: PgCounters[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      await settle();
      const startLsn = await detailStart(admin);
      const before = await pgCounters(admin);
      mirrored.push(await phase([{ workflowId: stored }]));
      await settle();
      const after = await pgCounters(admin);
      const nodes = runs * nodesPerRun;
      await detailEnd(admin, startLsn, nodes);
      perNode.push({
        commits: (after.commits - before.commits) / nodes,
        walBytes: (after.walBytes - before.walBytes) / nodes,
        tupleWrites: (after.tupleWrites - before.tupleWrites) / nodes,
      });
      unmirrored.push(await phase([{ definition: inline }]));
      console.error(
        `throughput round ${r + 1}/${rounds}: mirrored ${round(mirrored[r]!)} vs inline ${round(unmirrored[r]!)} nodes/s; per node ${JSON.stringify(perNode[r])}`,
      );
    }
  } finally {
    await admin.end();
  }
  const mirroredNodesPerS = median(mirrored);
  const inlineNodesPerS = median(unmirrored);
  return {
    runs,
    nodesPerRun,
    mirroredNodesPerS: round(mirroredNodesPerS),
    inlineNodesPerS: round(inlineNodesPerS),
    ratio: round(mirroredNodesPerS / inlineNodesPerS, 3),
    perNode: {
      commits: round(median(perNode.map((p) => p.commits)), 2),
      walBytes: Math.round(median(perNode.map((p) => p.walBytes))),
      tupleWrites: round(median(perNode.map((p) => p.tupleWrites)), 2),
    },
  };
}
