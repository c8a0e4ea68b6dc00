import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { chain, sideBySide, type BenchEnv } from '../env';

/**
 * Benchmark 10: 40 short `http` nodes (a GET to a server on 127.0.0.1) in mode "local", against
 * hand-written chains calling the same `http` activity 40 times as regular and as local
 * activities.
 */
export async function localMode(env: BenchEnv, runs: number) {
  process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1';
  const server = http.createServer((_req, res) => res.end('{"ok":true}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const config = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ping` };
  const local: WorkflowDefinition = { ...chain('http', 40, () => config), defaults: { mode: 'local' } };
  const regular: WorkflowDefinition = chain('http', 40, () => config);
  try {
    const trellisLocal = () => env.time('dagWorkflow', [{ definition: local }]);
    return {
      localHttpChain40VsRegularHandWritten: await sideBySide(runs, trellisLocal, () => env.time('handWrittenTypedChain', [40, 'http', config, false])),
      localHttpChain40VsLocalHandWritten: await sideBySide(runs, trellisLocal, () => env.time('handWrittenTypedChain', [40, 'http', config, true])),
      regularHttpChain40VsRegularHandWritten: await sideBySide(runs, () => env.time('dagWorkflow', [{ definition: regular }]), () => env.time('handWrittenTypedChain', [40, 'http', config, false])),
    };
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
