import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetDataDir } from '../../src/dev/data-dir';
import { withDemoBase } from '../../src/dev/demo-target';
import { connectTestServer, type ServerEnv } from '../support/temporal';
import { startDev, type DevProcess } from './dev-process';

const EXAMPLES_DIR = path.join(__dirname, '..', '..', 'examples');
const examples = fs
  .readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(EXAMPLES_DIR, f), 'utf8')) as { name: string; sampleInput: unknown });

interface Run {
  id: string;
  status: string;
  nodes: { nodeId: string; status: string; error?: { message: string } }[];
}

/** Polls a run until it ends, approving every node that waits for approval on the way. */
async function finish(dev: DevProcess, id: string): Promise<Run> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { body: run } = await dev.json<Run>('GET', `/executions/${id}`);
    if (['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'TERMINATED'].includes(run.status)) return run;
    for (const node of run.nodes.filter((n) => n.status === 'WAITING')) {
      const approve = await dev.json('POST', `/executions/${id}/nodes/${node.nodeId}/approve`, { approved: true, by: 'dev-test', data: 'ok' });
      expect(approve.status, JSON.stringify(approve.body)).toBeLessThan(300);
    }
    if (Date.now() > deadline) throw new Error(`run ${id} still ${run.status} after 60 s: ${JSON.stringify(run.nodes)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

let server: ServerEnv | undefined;
let dataDir: string;
beforeAll(async () => {
  server = await connectTestServer('test/dev (npm run dev)');
  // 0700 under the temp dir, like a clone in root's home: the `postgres` user cannot enter it.
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-dev-test-'));
});
afterAll(async () => {
  await resetDataDir(dataDir);
  await server?.env.teardown();
});

describe('npm run dev', () => {
  it('starts, runs every example to SUCCEEDED offline, stops quietly and keeps its state across a restart', async (ctx) => {
    if (!server) return ctx.skip();
    const address = server.env.address;
    const dev = await startDev({ temporalAddress: address, dataDir, args: ['--examples'] });
    let devStopped = false;
    try {
      for (const url of [`${dev.apiUrl}/ui/`, `${dev.apiUrl}/docs`, dev.apiUrl]) expect(dev.banner).toContain(url);
      const consolePage = await fetch(`${dev.apiUrl}/ui/`);
      expect(consolePage.status).toBe(200);
      expect(await consolePage.text()).toContain('<div id="root">');

      const { body: list } = await dev.json<{ items: { id: string; name: string }[] }>('GET', '/workflows?limit=50');
      for (const example of examples) {
        const workflow = list.items.find((w) => w.name === example.name);
        expect(workflow, `${example.name} loaded by --examples`).toBeDefined();
        const started = await dev.json<{ id: string }>('POST', '/executions', {
          workflowId: workflow!.id,
          input: withDemoBase(example.sampleInput, dev.demoUrl),
        });
        expect(started.status, JSON.stringify(started.body)).toBe(202);
        const run = await finish(dev, started.body.id);
        expect({ example: example.name, status: run.status, nodes: run.nodes.filter((n) => n.error) }).toEqual({
          example: example.name,
          status: 'SUCCEEDED',
          nodes: [],
        });
      }

      // A failing node: one line per failed attempt in the log, no stack trace.
      const failing = await dev.json<{ id: string }>('POST', '/workflows', {
        name: 'always-fails',
        definition: {
          name: 'always-fails',
          nodes: [{ id: 'boom', type: 'http', config: { url: `${dev.demoUrl}/fail/500` }, retry: { maximumAttempts: 2, initialInterval: '100ms' } }],
        },
      });
      expect(failing.status, JSON.stringify(failing.body)).toBe(201);
      const run = await dev.json<{ id: string }>('POST', '/executions', { workflowId: failing.body.id });
      expect((await finish(dev, run.body.id)).status).toBe('FAILED');
      const failedLines = dev.stderr.join('').split('\n').filter((l) => l.includes('node boom (http) failed'));
      expect(failedLines).toHaveLength(2);
      expect(failedLines[0]).toContain('attempt 1');

      expect(await dev.interrupt()).toBe(0);
      devStopped = true;
      const stderr = dev.stderr.join('');
      expect(stderr).not.toMatch(/IllegalStateError|^\s+at /m);
      expect(dev.stdout.join('')).toContain('trellis dev: stopped');
    } finally {
      if (!devStopped) await dev.interrupt();
    }

    // Same data dir: the same key still works and the workflows are still there.
    const again = await startDev({ temporalAddress: address, dataDir });
    try {
      expect(again.key).toBe(dev.key);
      const { status, body } = await again.json<{ items: { name: string }[] }>('GET', '/workflows?limit=50');
      expect(status).toBe(200);
      expect(body.items.map((w) => w.name)).toEqual(expect.arrayContaining(['always-fails', ...examples.map((e) => e.name)]));
    } finally {
      expect(await again.interrupt()).toBe(0);
    }

    // --reset: a new database and a new key.
    const fresh = await startDev({ temporalAddress: address, dataDir, args: ['--reset'] });
    try {
      expect(fresh.key).not.toBe(dev.key);
      const { body } = await fresh.json<{ items: unknown[] }>('GET', '/workflows');
      expect(body.items).toEqual([]);
    } finally {
      expect(await fresh.interrupt()).toBe(0);
    }
  }, 600_000);
});
