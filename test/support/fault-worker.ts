/**
 * A Trellis worker as its own process, for the fault tests: the test SIGKILLs it and starts
 * another. Its one custom node type, `journaled`, appends every start and finish to the
 * `fault_journal` table, so the test sees what ran across worker lifetimes; `counted` (a map
 * item's body in the scale test) appends one `scale_journal` row per execution.
 *
 * Env: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, DATABASE_URL, TRELLIS_TASK_QUEUE, FAULT_GENERATION (which life this is),
 * TRELLIS_WORKFLOW_BUNDLE (a prebuilt bundle, so a restart takes ~1 s rather than a webpack build).
 * Prints `READY <pid>` once it polls.
 */
import { Type } from '@sinclair/typebox';
import { NativeConnection } from '@temporalio/worker';
import pg from 'pg';
import { createNodeRegistry, defineNodeType } from '../../src/activities';
import { createDb } from '../../src/db/client';
import { createTrellisWorker } from '../../src/worker';
import { quietTemporalLogs } from './temporal';
import { JOURNAL_DDL, SCALE_JOURNAL_DDL } from './fault-process';

async function main(): Promise<void> {
  const address = required('TEMPORAL_ADDRESS');
  const databaseUrl = required('DATABASE_URL');
  const taskQueue = required('TRELLIS_TASK_QUEUE');
  const generation = Number(process.env.FAULT_GENERATION ?? 0);
  quietTemporalLogs();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  await pool.query(JOURNAL_DDL);
  await pool.query(SCALE_JOURNAL_DDL);
  const journal = (executionId: string, nodeId: string, attempt: number, event: string) =>
    pool.query('INSERT INTO fault_journal (execution_id, node_id, attempt, event, generation) VALUES ($1, $2, $3, $4, $5)', [
      executionId,
      nodeId,
      attempt,
      event,
      generation,
    ]);
  const journaled = defineNodeType({
    type: 'journaled',
    configSchema: Type.Object({ sleepMs: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
    async run(config, ctx) {
      await journal(ctx.executionId, ctx.nodeId, ctx.attempt, 'start');
      await new Promise((resolve) => setTimeout(resolve, config.sleepMs));
      await journal(ctx.executionId, ctx.nodeId, ctx.attempt, 'end');
      return { nodeId: ctx.nodeId, attempt: ctx.attempt };
    },
  });
  // One row per execution of a map item's body (the scale test counts items that ran twice).
  const counted = defineNodeType({
    type: 'counted',
    configSchema: Type.Object({ index: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
    async run(config, ctx) {
      await pool.query('INSERT INTO scale_journal (execution_id, item, attempt, generation) VALUES ($1, $2, $3, $4)', [
        ctx.executionId,
        config.index,
        ctx.attempt,
        generation,
      ]);
      return { index: config.index, attempt: ctx.attempt };
    },
  });
  const connection = await NativeConnection.connect({ address });
  const worker = await createTrellisWorker({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE || 'default',
    taskQueue,
    registry: createNodeRegistry([journaled, counted]),
    db: createDb(databaseUrl),
  });
  const running = worker.run();
  console.log(`READY ${process.pid}`);
  await running;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
