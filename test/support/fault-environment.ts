import { afterAll, beforeAll, it } from 'vitest';
import fs from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { dagWorkflow } from '../../src/workflows';
import { createTestDatabase, type TestDatabase } from './database';
import { prebuiltWorkflowBundle, spawnReady, type FaultProcess } from './fault-process';
import { connectTestServer, type ServerEnv } from './temporal';

/**
 * What the fault tests share, set up before the file and torn down after it: a Temporal server
 * (undefined when none is reachable: the tests skip), a test database with the journal table
 * test/support/fault-worker.ts writes, the prebuilt workflow bundle, and fault-worker processes
 * on one task queue.
 */
export interface FaultEnvironment {
  server?: ServerEnv;
  database?: TestDatabase;
  bundle?: string;
  readonly taskQueue: string;
  /** Runs to terminate after the file: a failed test must not leave them open on the shared server. */
  readonly handles: WorkflowHandle<typeof dagWorkflow>[];
  /** Starts a fault worker of this generation; any still alive after the file is SIGKILLed. */
  startWorker(generation: number): Promise<FaultProcess>;
  /** A test that needs the server: skipped (and reported so) when none is reachable. */
  serverIt(name: string, fn: () => Promise<void>, timeoutMs?: number): void;
}

/** Registers the file's beforeAll/afterAll; `enabled: false` sets nothing up (an opt-in test that is off). */
export function useFaultEnvironment(suite: string, options: { journalDdl: string; taskQueuePrefix: string; enabled?: boolean }): FaultEnvironment {
  const workers: FaultProcess[] = [];
  const fault: FaultEnvironment = {
    taskQueue: `${options.taskQueuePrefix}-${randomUUID()}`,
    handles: [],
    async startWorker(generation) {
      const worker = await spawnReady('test/support/fault-worker.ts', {
        TEMPORAL_ADDRESS: fault.server!.env.address,
        DATABASE_URL: fault.database!.url,
        TRELLIS_TASK_QUEUE: fault.taskQueue,
        TRELLIS_WORKFLOW_BUNDLE: fault.bundle!,
        FAULT_GENERATION: String(generation),
      });
      workers.push(worker);
      return worker;
    },
    serverIt(name, fn, timeoutMs = 90_000) {
      it(name, async (ctx) => {
        if (!fault.server) return ctx.skip();
        await fn();
      }, timeoutMs);
    },
  };
  beforeAll(async () => {
    if (options.enabled === false) return;
    fault.server = await connectTestServer(suite);
    if (!fault.server) return;
    fault.database = await createTestDatabase();
    await fault.database.db.$executeRawUnsafe(options.journalDdl);
    fault.bundle = await prebuiltWorkflowBundle();
  }, 180_000);
  afterAll(async () => {
    await Promise.all(fault.handles.map((h) => h.terminate('fault test over').catch(() => undefined)));
    await Promise.all(workers.map((w) => w.kill())); // a no-op for the ones already killed
    await fault.database?.drop();
    if (fault.bundle) await fs.rm(fault.bundle, { force: true });
    await fault.server?.env.teardown();
  });
  return fault;
}
