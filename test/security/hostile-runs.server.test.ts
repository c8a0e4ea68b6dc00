import { beforeAll, describe, expect } from 'vitest';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { createApiKey } from '../../src/services/api-keys';
import { signClaim } from '../../src/crypto/claim-signing';
import type { dagWorkflow } from '../../src/workflows';
import { DAG_WORKFLOW_TYPE, type DagRunResult, type DagWorkflowInput } from '../../src/contracts/dag-workflow';
import { useFaultEnvironment } from '../support/fault-environment';
import { JOURNAL_DDL, type FaultProcess } from '../support/fault-process';

/*
 * Issue 9's attacks against a real server and a real worker process. The worker runs as its own
 * process because the attacks used to abort it; each test asserts the worker is still alive and
 * that another tenant's run, started beside the attack, completes (its latency is printed).
 */
const fault = useFaultEnvironment('security (hostile runs) server tests', { journalDdl: JOURNAL_DDL, taskQueuePrefix: 'trellis-security' });
let worker: FaultProcess;
let acme: string;
let globex: string;
const db = () => fault.database!.db;

beforeAll(async () => {
  if (!fault.server) return;
  acme = (await createApiKey(db(), 'acme')).tenantId;
  globex = (await createApiKey(db(), 'globex')).tenantId;
  worker = await fault.startWorker(1);
}, 180_000);

const serverIt = fault.serverIt;

async function store(tenantId: string, definition: WorkflowDefinition, archived = false): Promise<string> {
  const id = `wf_${randomUUID().slice(0, 8)}`;
  await db().workflow.create({ data: { id, tenantId, name: definition.name, latestVersion: 1, archivedAt: archived ? new Date() : null } });
  await db().workflowVersion.create({ data: { workflowId: id, version: 1, definition: definition as object } });
  return id;
}

/** Starts a run as Trellis would: the tenant's claim signed (an inline definition needs it). */
async function start(args: DagWorkflowInput, name = 'hostile'): Promise<WorkflowHandle<typeof dagWorkflow>> {
  const workflowId = `${name}-${randomUUID()}`;
  const handle = await fault.server!.env.client.workflow.start<typeof dagWorkflow>(DAG_WORKFLOW_TYPE, {
    taskQueue: fault.taskQueue,
    workflowId,
    args: [await signClaim(db(), workflowId, args)],
  });
  fault.handles.push(handle); // terminated after the file if an attack left it open
  return handle;
}

async function outcome(handle: WorkflowHandle<typeof dagWorkflow>): Promise<DagRunResult> {
  try {
    return await handle.result();
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    return (err.cause as { details?: unknown[] }).details?.[0] as DagRunResult;
  }
}

/** A plain run of the other tenant, started beside an attack; returns its latency. */
async function bystander(): Promise<number> {
  const started = Date.now();
  const handle = await start({ tenantId: acme, definition: { name: 'bystander', nodes: [{ id: 'a', type: 'transform', config: { expression: '1 + 1' } }] } }, 'bystander');
  const result = await outcome(handle);
  expect(result.status).toBe('SUCCEEDED');
  return Date.now() - started;
}

function expectWorkerAlive(): void {
  expect(worker.child.exitCode, worker.output.join('').slice(-2000)).toBeNull();
  expect(worker.child.signalCode).toBeNull();
}

const transform = (expression: string): WorkflowDefinition => ({ name: 'attack', nodes: [{ id: 't', type: 'transform', config: { expression } }] });

describe('hostile definitions against a real worker', () => {
  const expressions: [string, string, string][] = [
    ['deep recursion', '($f := function($n, $acc){ $n = 0 ? $acc : $f($n-1 + 0, $acc+$n) + 0 }; $f(5000, 0))', 'depth'],
    ['endless tail recursion', '($f := function(){ $f() }; $f())', 'steps'],
    ['catastrophic regex', '$match("' + 'a'.repeat(40) + '!", /(a+)+$/)', ''],
    ['huge string', '$pad("", 200000000)', 'stringLength'],
    ['5 MB string', '$pad("", 5000000)', 'stringLength'],
    ['10,000-element map (within limits)', '$sum($map([1..10000], function($x){ $x * 2 }))', ''],
    ['100,000-element map', '$sum($map([1..100000], function($x){ $x * 2 }))', 'steps'],
  ];
  for (const [name, expression, limit] of expressions) {
    serverIt(`${name}: the node ends cleanly, the worker lives, another tenant's run completes`, async () => {
      const attack = outcome(await start({ tenantId: globex, definition: transform(expression) }));
      const latency = await bystander();
      const result = await attack;
      if (limit) {
        expect(result.status).toBe('FAILED');
        expect(result.error).toMatchObject({ type: 'ExpressionLimitExceeded', nodeId: 't' });
        expect(result.error!.message).toContain(limit);
      } else {
        expect(result.status).toBe('SUCCEEDED');
      }
      expectWorkerAlive();
      console.log(`[security] ${name}: ${result.status}${result.error ? ` (${result.error.type})` : ''}; other tenant's run took ${latency} ms`);
    });
  }

  serverIt('ten heavy transforms ready at once are spread over workflow tasks instead of tripping the deadlock detector', async () => {
    const nodes = Array.from({ length: 10 }, (_, i) => ({ id: `t${i}`, type: 'transform', config: { expression: '$sum($map([1..10000], function($x){ $x * 2 }))' } }));
    const result = await outcome(await start({ tenantId: globex, definition: { name: 'heavy', nodes } }));
    expect(result.status).toBe('SUCCEEDED');
    expect(Object.values(result.outputs)).toEqual(Array(10).fill(100010000));
    expectWorkerAlive();
  });

  serverIt('twelve transforms each returning a 200 KB input fail on the run budget instead of hanging', async () => {
    const nodes = Array.from({ length: 12 }, (_, i) => ({ id: `t${i}`, type: 'transform', config: { expression: 'input.blob' } }));
    const handle = await start({ tenantId: globex, definition: { name: 'fat', nodes }, input: { blob: 'x'.repeat(200_000) } });
    const result = await outcome(handle);
    expect(result.status).toBe('FAILED');
    expect(result.error?.type).toBe('PayloadBudgetExceeded');
    expectWorkerAlive();
  });

  serverIt('a definition with a 99999999999h delay or timeout is refused, not left RUNNING', async () => {
    for (const definition of [
      { name: 'forever', nodes: [{ id: 'd', type: 'delay', config: { duration: '99999999999h' } }] },
      { name: 'forever', nodes: [{ id: 'h', type: 'journaled', config: { sleepMs: 1 }, timeout: { startToClose: '99999999999h' } }] },
    ] as WorkflowDefinition[]) {
      const handle = await start({ tenantId: globex, definition });
      await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
      const description = await handle.describe();
      expect(description.status.name).toBe('FAILED');
    }
  });

  serverIt('a templated delay beyond the maximum fails the node at run time', async () => {
    const definition: WorkflowDefinition = { name: 'late', nodes: [{ id: 'd', type: 'delay', config: { duration: '{{ input.d }}' } }] };
    const result = await outcome(await start({ tenantId: globex, definition, input: { d: '99999999999h' } }));
    expect(result.status).toBe('FAILED');
    expect(result.error?.type).toBe('ConfigError');
  });
});

describe('tenant boundaries inside runs', () => {
  serverIt("a subworkflow node cannot run another tenant's workflow, archived or not", async () => {
    const secret = await store(acme, transform('"acme private data"'));
    const archived = await store(acme, transform('"archived"'), true);
    for (const target of [secret, archived]) {
      const thief: WorkflowDefinition = { name: 'thief', nodes: [{ id: 'steal', type: 'subworkflow', config: { workflowId: target } }] };
      const result = await outcome(await start({ tenantId: globex, workflowId: await store(globex, thief) }));
      expect(result.status).toBe('FAILED');
      expect(result.error?.message).toMatch(/has no any version|not found|WorkflowNotFound/i);
      expect(JSON.stringify(result)).not.toContain('acme private data');
    }
    // The owner's own subworkflow call still works, and an archived workflow starts no child.
    const own: WorkflowDefinition = { name: 'own', nodes: [{ id: 'call', type: 'subworkflow', config: { workflowId: secret } }] };
    const ok = await outcome(await start({ tenantId: acme, workflowId: await store(acme, own) }));
    expect(ok.status).toBe('SUCCEEDED');
    expect(ok.outputs.call).toEqual({ t: 'acme private data' });
  });

  serverIt('a workflow that calls itself stops at the nesting limit', async () => {
    const id = `wf_${randomUUID().slice(0, 8)}`;
    const self: WorkflowDefinition = { name: 'fork', nodes: [{ id: 'again', type: 'subworkflow', config: { workflowId: id } }] };
    await db().workflow.create({ data: { id, tenantId: globex, name: 'fork', latestVersion: 1 } });
    await db().workflowVersion.create({ data: { workflowId: id, version: 1, definition: self as object } });
    const handle = await start({ tenantId: globex, workflowId: id });
    const result = await outcome(handle);
    expect(result.status).toBe('FAILED');
    expect(JSON.stringify(result.error)).toMatch(/nest 6 levels deep; the limit is 5/);
    // Child ids nest as <parent>.again; no run exists below the fifth level.
    const exists = async (id: string) => fault.server!.env.client.workflow.getHandle(id).describe().then(() => true, () => false);
    expect(await exists(`${handle.workflowId}${'.again'.repeat(5)}`)).toBe(true);
    expect(await exists(`${handle.workflowId}${'.again'.repeat(6)}`)).toBe(false);
  });

  serverIt("a reference to another tenant's stored output, passed in as input, resolves to nothing", async () => {
    const id = randomUUID();
    await db().outputBlob.create({ data: { id, tenantId: acme, executionId: 'ex_acme', nodeId: 'n', data: { secret: 'acme blob' }, sizeBytes: 20 } });
    const definition: WorkflowDefinition = { name: 'forge', nodes: [{ id: 'use', type: 'journaled', config: { sleepMs: '{{ input.ref }}' } }] };
    const result = await outcome(await start({ tenantId: globex, definition, input: { ref: { $trellisRef: `output_blobs/${id}`, sizeBytes: 1 } } }));
    expect(result.status).toBe('FAILED');
    expect(result.error?.type).toBe('StoredOutputNotFound');
    expect(JSON.stringify(result)).not.toContain('acme blob');
  });
});
