import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createNodeRegistry } from '../../src/activities';
import { Keyring, generateKeyText, parseKey } from '../../src/crypto/keyring';
import { AesGcmPayloadCodec, ENCODED_FAILURE_CONVERTER_PATH } from '../../src/crypto/payload-codec';
import { createTrellisWorker } from '../../src/worker';
import { benchNoop, chain, sideBySide, type BenchEnv } from '../env';

/**
 * Payload encryption's cost (issue 14): the 40-node activity chain with every payload sealed by
 * the AES-256-GCM codec (worker and client) against the same chain on the plain bench worker.
 */
export async function codecOverhead(env: BenchEnv, runs: number) {
  const codec = new AesGcmPayloadCodec(new Keyring(parseKey(generateKeyText(), 'bench payload key')));
  const dataConverter = { payloadCodecs: [codec], failureConverterPath: ENCODED_FAILURE_CONVERTER_PATH };
  const taskQueue = `trellis-bench-codec-${randomUUID()}`;
  const nativeConnection = await NativeConnection.connect({ address: env.address });
  const client = new Client({ connection: await Connection.connect({ address: env.address }), dataConverter });
  const worker = await createTrellisWorker({
    connection: nativeConnection,
    taskQueue,
    db: env.db,
    registry: createNodeRegistry([benchNoop]),
    payloadCodec: codec,
    options: { workflowsPath: path.join(__dirname, '..', 'workflows.ts') },
  });
  const running = worker.run();
  try {
    const definition = chain('benchNoop', 40);
    const encrypted = async () => {
      const started = performance.now();
      await client.workflow.execute('dagWorkflow', { taskQueue, workflowId: `bench-codec-${randomUUID()}`, args: [{ definition }] });
      return performance.now() - started;
    };
    return { activityChain40Codec: await sideBySide(runs, encrypted, () => env.time('dagWorkflow', [{ definition }])) };
  } finally {
    worker.shutdown();
    await running;
    await client.connection.close();
    await nativeConnection.close();
  }
}
