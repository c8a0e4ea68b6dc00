import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import type { Db } from '../../src/db/client';
import type { WorkflowDefinition } from '../../src/domain/definition';
import type { DagRunResult } from '../../src/contracts/dag-workflow';

/**
 * Issue 22 item 7's attack, shared by test/security/big-outputs.server.test.ts (which asserts
 * what happens) and bench/scenarios/big-outputs.ts (which reports how long the loop stalled):
 * tenant A's run has eight http nodes each fetching a 16 MiB JSON body from a loopback server
 * while tenant B's run has one POST in flight that the server answers only after A's outputs are
 * all stored. A stalled worker loop used to make B's heartbeats miss and its POST be sent again.
 */
export const BIG_BODY_BYTES = 16 * 1024 * 1024;
export const BIG_NODES = 8;

export interface BigOutputsResult {
  victimPostCount: number;
  victimStatus: string;
  victimOutput: unknown;
  attackStatus: string;
  attackError?: unknown;
  /** Per big node: the stored output's body item count (undefined when none was stored). */
  storedItems: (number | undefined)[];
  expectedItems: number;
  maxLoopStallMs: number;
  p99LoopStallMs: number;
  peakRssMb: number;
  rssBeforeMb: number;
  ms: number;
}

/** A body of small objects: the most expensive JSON shape to parse per byte. */
function bigBody(): { bytes: Buffer; items: number } {
  const parts: string[] = [];
  let size = 2;
  for (let i = 0; ; i++) {
    const item = JSON.stringify({ id: i, name: `item-${i}`, tags: ['a', 'b'], value: i * 1.5 });
    if (size + item.length + 1 > BIG_BODY_BYTES) return { bytes: Buffer.from(`[${parts.join(',')}]`), items: parts.length };
    parts.push(item);
    size += item.length + 1;
  }
}

interface ArenaOptions {
  client: Client;
  taskQueue: string;
  db: Db;
  /** Stores a definition as a workflow of the given tenant; returns its id (runs start by id). */
  store(tenantId: string, definition: WorkflowDefinition): Promise<string>;
  attacker: string;
  victim: string;
  /** Longest the victim's POST is held open if the attack never stores its outputs. */
  victimHoldMs?: number;
}

export async function runBigOutputsAttack(options: ArenaOptions): Promise<BigOutputsResult> {
  const { bytes, items } = bigBody();
  let victimPostCount = 0;
  let answerVictim: () => void = () => undefined;
  const victimAnswered = new Promise<void>((resolve) => (answerVictim = resolve));
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.length });
        res.end(bytes);
      } else if (req.url === '/victim' && req.method === 'POST') {
        victimPostCount++;
        void victimAnswered.then(() => res.writeHead(201, { 'content-type': 'application/json' }).end('{"ok":true}'));
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const attackId = await options.store(options.attacker, {
    name: 'big-outputs',
    nodes: Array.from({ length: BIG_NODES }, (_, i) => ({ id: `big${i}`, type: 'http', config: { url: `${base}/big`, maxResponseBytes: BIG_BODY_BYTES } })),
  });
  const victimId = await options.store(options.victim, {
    name: 'victim',
    nodes: [{ id: 'post', type: 'http', config: { method: 'POST', url: `${base}/victim`, body: { order: 1 } } }],
  });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
  const started = performance.now();
  try {
    const victim = await options.client.workflow.start('dagWorkflow', {
      taskQueue: options.taskQueue,
      workflowId: `big-outputs-victim-${randomUUID()}`,
      args: [{ workflowId: victimId }],
    });
    while (victimPostCount === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    loop.enable();
    const attack = await options.client.workflow.start('dagWorkflow', {
      taskQueue: options.taskQueue,
      workflowId: `big-outputs-attack-${randomUUID()}`,
      args: [{ workflowId: attackId, maxConcurrency: BIG_NODES }],
    });
    const attackResult = outcome(attack.result());
    // The victim's POST stays in flight until the attack has landed (or the hold runs out).
    const hold = setTimeout(answerVictim, options.victimHoldMs ?? 120_000);
    const attackOutcome = await attackResult;
    answerVictim();
    clearTimeout(hold);
    const victimOutcome = await outcome(victim.result());
    loop.disable();
    clearInterval(sampler); // loading the stored outputs below is the test's memory, not the worker's
    const ms = Math.round(performance.now() - started);
    const rows = await options.db.outputBlob.findMany({ where: { executionId: attack.workflowId }, select: { nodeId: true, data: true } });
    const stored = new Map(rows.map((row) => [row.nodeId, (row.data as { body?: unknown }).body]));
    return {
      victimPostCount,
      victimStatus: victimOutcome.status,
      victimOutput: victimOutcome.outputs?.post,
      attackStatus: attackOutcome.status,
      ...(attackOutcome.error !== undefined && { attackError: attackOutcome.error }),
      storedItems: Array.from({ length: BIG_NODES }, (_, i) => {
        const body = stored.get(`big${i}`);
        return Array.isArray(body) && JSON.stringify(body[items - 1]) === JSON.stringify(lastItem(items)) ? body.length : undefined;
      }),
      expectedItems: items,
      maxLoopStallMs: Math.round(loop.max / 1e6),
      p99LoopStallMs: Math.round(loop.percentile(99) / 1e6),
      peakRssMb: Math.round(peakRss / 2 ** 20),
      rssBeforeMb: Math.round(rssBefore / 2 ** 20),
      ms,
    };
  } finally {
    clearInterval(sampler);
    answerVictim();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function lastItem(items: number) {
  const i = items - 1;
  return { id: i, name: `item-${i}`, tags: ['a', 'b'], value: i * 1.5 };
}

/** A run's result, also for a failed run (the result travels in the failure's details). */
async function outcome(result: Promise<unknown>): Promise<DagRunResult> {
  try {
    return (await result) as DagRunResult;
  } catch (err) {
    const details = ((err as { cause?: { details?: unknown[] } }).cause?.details ?? []) as DagRunResult[];
    if (details[0]) return details[0];
    throw err;
  }
}
