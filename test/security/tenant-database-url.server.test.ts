import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { beforeAll, describe, expect } from 'vitest';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { ALLOW_LOOPBACK_ENV, ALLOW_PRIVATE_ENV } from '../../src/activities/nodes/ssrf';
import { createApiKey } from '../../src/services/api-keys';
import { Keyring, generateKeyText, parseKey } from '../../src/crypto/keyring';
import { putSecret } from '../../src/services/secrets';
import type { dagWorkflow } from '../../src/workflows';
import { DAG_WORKFLOW_TYPE, type DagRunResult } from '../../src/contracts/dag-workflow';
import { useFaultEnvironment } from '../support/fault-environment';
import { JOURNAL_DDL, type FaultProcess } from '../support/fault-process';

/*
 * Issue 22 item 1 end to end: a tenant's PG_<NAME>_URL secret pointing at the platform's own
 * database on 127.0.0.1, run by a real worker process with the production address guard (it
 * inherits this process's environment, from which both TRELLIS_HTTP_ALLOW_* are removed). The
 * run must fail PostgresConnectionRefused and no TCP connection may reach the address; the
 * platform database's API keys stay unread.
 */
delete process.env[ALLOW_PRIVATE_ENV];
delete process.env[ALLOW_LOOPBACK_ENV];
const masterKey = generateKeyText();
process.env.TRELLIS_MASTER_KEY = masterKey;
const keyring = new Keyring(parseKey(masterKey, 'test'));

const fault = useFaultEnvironment('security (tenant database URL) server tests', { journalDdl: JOURNAL_DDL, taskQueuePrefix: 'trellis-tenant-db' });
let worker: FaultProcess;
let acme: string;
let globex: string;
let listener: net.Server;
let listenerPort: number;
let accepts = 0;
const db = () => fault.database!.db;
const SHARED_APP = `trellis-shared-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  if (!fault.server) return;
  acme = (await createApiKey(db(), 'acme')).tenantId;
  globex = (await createApiKey(db(), 'globex')).tenantId;
  listener = net.createServer((socket) => {
    accepts++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  listenerPort = (listener.address() as net.AddressInfo).port;
  // A deployment connection the worker offers every tenant (TRELLIS_PG_SHARED_TENANTS unset).
  const shared = new URL(fault.database!.url);
  shared.searchParams.set('application_name', SHARED_APP);
  process.env.TRELLIS_PG_SHARED_URL = shared.toString();
  worker = await fault.startWorker(1);
  delete process.env.TRELLIS_PG_SHARED_URL;
  return async () => {
    await new Promise((resolve) => listener.close(resolve));
  };
}, 180_000);

const serverIt = fault.serverIt;

/** Stores the definition for the tenant and runs it by workflowId (so it runs as that tenant). */
async function runStored(tenantId: string, definition: WorkflowDefinition): Promise<DagRunResult> {
  const id = `wf_${randomUUID().slice(0, 8)}`;
  await db().workflow.create({ data: { id, tenantId, name: definition.name, latestVersion: 1 } });
  await db().workflowVersion.create({ data: { workflowId: id, version: 1, definition: definition as object } });
  const handle = await fault.server!.env.client.workflow.start<typeof dagWorkflow>(DAG_WORKFLOW_TYPE, {
    taskQueue: fault.taskQueue,
    workflowId: `tenant-db-${randomUUID()}`,
    args: [{ workflowId: id }],
  });
  fault.handles.push(handle);
  try {
    return await handle.result();
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    return (err.cause as { details?: unknown[] }).details?.[0] as DagRunResult;
  }
}

const steal: WorkflowDefinition = {
  name: 'steal-api-keys',
  nodes: [{ id: 'q', type: 'postgres', config: { connection: 'platform', sql: 'SELECT tenant_id, key_hash FROM api_keys' } }],
};

describe('a tenant database URL through a real worker with the production address guard', () => {
  serverIt("the platform's own database on 127.0.0.1 is refused before any connection", async () => {
    await putSecret(db(), keyring, globex, 'PG_PLATFORM_URL', fault.database!.url);
    const result = await runStored(globex, steal);
    expect(result.status).toBe('FAILED');
    expect(result.error).toMatchObject({ type: 'PostgresConnectionRefused', nodeId: 'q' });
    expect(result.error!.message).toMatch(/the host is a loopback address/);
    expect(JSON.stringify(result)).not.toMatch(/key_hash|tenant_id/);
    expect(worker.child.exitCode, worker.output.join('').slice(-2000)).toBeNull();
  });

  serverIt('a counting listener on 127.0.0.1 sees no connection, for the address, localhost or a socket path', async () => {
    for (const url of [
      `postgres://u:p@127.0.0.1:${listenerPort}/d`,
      `postgres://u:p@localhost:${listenerPort}/d`,
      `postgres://u:p@[::ffff:127.0.0.1]:${listenerPort}/d`,
      `postgres://u@h.example:${listenerPort}/d?host=/var/run/postgresql`,
      `postgres://u@127.0.0.1:${listenerPort}/d?sslmode=verify-full&sslrootcert=/etc/passwd`,
    ]) {
      await putSecret(db(), keyring, acme, 'PG_PLATFORM_URL', url);
      const result = await runStored(acme, steal);
      expect(result.status, url).toBe('FAILED');
      expect(result.error?.type, url).toBe('PostgresConnectionRefused');
    }
    expect(accepts).toBe(0);
  });

  serverIt("tenant A's ten slow queries on a deployment connection leave room for tenant B's select 1 (issue 22 item 2)", async () => {
    const sleeps: WorkflowDefinition = {
      name: 'hog',
      defaults: { maxConcurrency: 10 },
      nodes: Array.from({ length: 10 }, (_, i) => ({ id: `s${i}`, type: 'postgres', config: { connection: 'shared', sql: 'SELECT pg_sleep(4)' } })),
    };
    const hog = runStored(acme, sleeps);
    const sleeping = async () =>
      Number(
        (
          await db().$queryRawUnsafe<{ n: number }[]>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE 'SELECT pg_sleep(4)%'`,
            SHARED_APP,
          )
        )[0]!.n,
      );
    const deadline = Date.now() + 20_000;
    while ((await sleeping()) < 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await sleeping()).toBe(5);
    const started = Date.now();
    const quick = await runStored(globex, {
      name: 'quick',
      nodes: [{ id: 'q', type: 'postgres', config: { connection: 'shared', sql: 'SELECT 1 AS one' } }],
    });
    const tookMs = Date.now() - started;
    expect(quick.status).toBe('SUCCEEDED');
    expect(quick.outputs.q).toEqual({ rows: [{ one: 1 }], rowCount: 1 });
    // Well before A's first wave of pg_sleep(4) ends: B did not wait for a client.
    expect(tookMs).toBeLessThan(2_500);
    expect(await sleeping()).toBeLessThanOrEqual(5);
    expect((await hog).status).toBe('SUCCEEDED');
    console.log(`[security] tenant B's run with one select 1 beside 10 × pg_sleep(4) of tenant A: ${tookMs} ms`);
  }, 60_000);
});
