import fs from 'node:fs';
import { RETENTION_SCHEDULE_ID } from '../../src/contracts/retention';
import type { TestDatabase } from './database';
import type { FaultProcess } from './fault-process';
import type { ServerEnv } from './temporal';

/** What a test of real `trellis` processes on one task queue leaves behind. */
export interface DeploymentUnderTest {
  /** The spawned API and worker processes. */
  processes: readonly FaultProcess[];
  server?: ServerEnv;
  /** Workflow ids the test started (terminated if still open). */
  started: readonly string[];
  /** The task queue the workers served (its retention Schedule is deleted). */
  taskQueue: string;
  /** A prebuilt workflow bundle file. */
  bundle?: string;
  database?: TestDatabase;
  /** What else the test started in front of them (a pooler, a TLS front), closed after the processes. */
  fronts?: readonly (() => Promise<unknown> | unknown)[];
}

/**
 * Takes such a test down in the order that leaves nothing running: the processes first (they hold
 * connections to everything else), their workflows and the retention Schedule each worker start
 * created, the fronts, the bundle, the database and the Temporal connection.
 */
export async function tearDownDeployment(d: DeploymentUnderTest): Promise<void> {
  await Promise.all(d.processes.map((p) => p.stop()));
  if (d.server) {
    for (const id of d.started) await d.server.env.client.workflow.getHandle(id).terminate('test over').catch(() => undefined);
    await d.server.env.client.schedule.getHandle(`${RETENTION_SCHEDULE_ID}-${d.taskQueue}`).delete().catch(() => undefined);
  }
  for (const close of d.fronts ?? []) await close();
  if (d.bundle) fs.rmSync(d.bundle, { force: true });
  await d.database?.drop();
  await d.server?.env.teardown();
}
