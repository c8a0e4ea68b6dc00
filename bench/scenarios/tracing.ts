import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createNodeRegistry } from '../../src/activities';
import { loadConfig } from '../../src/config';
import { startTracing } from '../../src/observability/tracing';
import { createTemporalClient } from '../../src/temporal/client';
import { createTrellisWorker } from '../../src/worker';
import { startOtlpReceiver } from '../../test/support/otlp-receiver';
import { benchNoop, chain, round, sideBySide, type BenchEnv } from '../env';

/**
 * Tracing's cost (issue 28 item 1): the 40-node activity chain with OpenTelemetry on (client,
 * workflow and activity interceptors, pg/undici/http instrumentation, a batch exporter sending
 * OTLP/protobuf to a loopback collector in this process) against the same chain on a worker
 * made before tracing started (no interceptors), runs alternating. Tracing is shut down after.
 */
export async function tracingOverhead(env: BenchEnv, runs: number) {
  const receiver = await startOtlpReceiver();
  const workflowsPath = path.join(__dirname, '..', 'workflows.ts');
  const registry = createNodeRegistry([benchNoop]);
  const nativeConnection = await NativeConnection.connect({ address: env.address });
  const workers: { worker: Worker; running: Promise<void> }[] = [];
  const start = async (taskQueue: string) => {
    const worker = await createTrellisWorker({ connection: nativeConnection, taskQueue, db: env.db, registry, payloadCodec: null, options: { workflowsPath } });
    workers.push({ worker, running: worker.run() });
  };
  const plainQueue = `trellis-bench-untraced-${randomUUID()}`;
  await start(plainQueue);
  const tracing = startTracing(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint }), 'worker')!;
  const tracedQueue = `trellis-bench-traced-${randomUUID()}`;
  await start(tracedQueue);
  const connection = await Connection.connect({ address: env.address });
  const traced = createTemporalClient(connection, { namespace: 'default' });
  const plain = new Client({ connection });
  try {
    const definition = chain('benchNoop', 40);
    const time = (client: Client, taskQueue: string) => async () => {
      const started = performance.now();
      await client.workflow.execute('dagWorkflow', { taskQueue, workflowId: `bench-tracing-${randomUUID()}`, args: [{ definition }] });
      return performance.now() - started;
    };
    const result = await sideBySide(runs, time(traced, tracedQueue), time(plain, plainQueue));
    await tracing.flush();
    const exportedBytes = receiver.posts.reduce((sum, post) => sum + post.body.length, 0);
    return { activityChain40Tracing: { ...result, otlpPosts: receiver.posts.length, otlpKiB: round(exportedBytes / 1024) } };
  } finally {
    for (const { worker } of workers) worker.shutdown();
    for (const { running } of workers) await running;
    await tracing.shutdown();
    await connection.close();
    await nativeConnection.close();
    await receiver.close();
  }
}
