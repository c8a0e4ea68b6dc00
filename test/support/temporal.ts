import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { withTimeout } from '../../src/util/timeout';

export interface ServerEnv {
  env: TestWorkflowEnvironment;
  /** How we got a server, for the test log. */
  source: string;
}

const LOCAL_START_LIMIT_MS = 60_000;

/**
 * A real Temporal server for the tests that need one: TEMPORAL_ADDRESS when set, else the SDK's
 * local dev server (which it downloads), else none, with one loud line saying why.
 */
export async function connectTestServer(suite: string): Promise<ServerEnv | undefined> {
  quietTemporalLogs();
  const address = process.env.TEMPORAL_ADDRESS;
  if (address) {
    const env = await TestWorkflowEnvironment.createFromExistingServer({
      address,
      namespace: process.env.TEMPORAL_NAMESPACE || 'default',
    });
    return { env, source: `TEMPORAL_ADDRESS=${address}` };
  }
  try {
    const env = await withTimeout(TestWorkflowEnvironment.createLocal(), LOCAL_START_LIMIT_MS);
    return { env, source: 'TestWorkflowEnvironment.createLocal()' };
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    console.warn(
      `\n!!! SKIPPING ${suite}: no Temporal server — TEMPORAL_ADDRESS is not set and createLocal() failed (${why}). ` +
        'Set TEMPORAL_ADDRESS=host:7233 to run these tests.\n',
    );
    return undefined;
  }
}

/** Worker state changes at INFO drown the test output; warnings and errors still show. */
export function quietTemporalLogs(): DefaultLogger {
  const logger = new DefaultLogger('WARN');
  try {
    Runtime.install({ logger });
  } catch {
    // Already installed by an earlier suite in this process.
  }
  return logger;
}
