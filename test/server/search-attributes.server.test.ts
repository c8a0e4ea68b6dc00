import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { createTemporalGateway, type TemporalGateway } from '../../src/temporal/gateway';
import { setupSearchAttributes } from '../../src/temporal/search-attribute-setup';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { TRELLIS_TENANT, TRELLIS_TRIGGER, TRELLIS_WORKFLOW_ID, TRELLIS_WORKFLOW_VERSION, WORKFLOW_NAME_MEMO } from '../../src/workflows/search-attributes';
import { startHarness, type Harness } from './harness';

// The dev server here is Temporal 1.19 with standard (SQL) visibility: it stores custom search
// attributes with each run (describe shows them) but cannot filter lists by them, so these
// tests read them back with describe(); the Web UI filters are for advanced visibility.
let h: Harness | undefined;
let app: FastifyInstance;
let key: string;
let tenantId: string;
let gateway: TemporalGateway;
beforeAll(async () => {
  h = await startHarness('search attribute server tests');
  if (!h) return;
  // Idempotent: the shared server may have them already.
  await setupSearchAttributes(h.server.env.client.connection, h.server.env.namespace ?? 'default');
  const again = await setupSearchAttributes(h.server.env.client.connection, h.server.env.namespace ?? 'default');
  expect(again.added).toEqual([]);
  gateway = createTemporalGateway(h.server.env.client, h.taskQueue);
  app = await buildApp({ db: h.database.db, temporal: gateway, catalog: createNodeRegistry().catalog() });
  ({ key, tenantId } = await createApiKey(h.database.db, 'acme'));
}, 60_000);
afterAll(async () => {
  await app?.close();
  await h?.close();
});

function serverIt(name: string, fn: (h: Harness) => Promise<void>): void {
  it(name, async (ctx) => {
    if (!h) return ctx.skip();
    await fn(h);
  }, 120_000);
}

async function labelsOf(id: string) {
  const d = await h!.server.env.client.workflow.getHandle(id).describe();
  const a = d.typedSearchAttributes;
  return {
    tenant: a.get(TRELLIS_TENANT),
    workflowId: a.get(TRELLIS_WORKFLOW_ID),
    version: a.get(TRELLIS_WORKFLOW_VERSION),
    trigger: a.get(TRELLIS_TRIGGER),
    name: d.memo?.[WORKFLOW_NAME_MEMO],
  };
}

async function finished(id: string): Promise<void> {
  await h!.server.env.client.workflow.getHandle(id).result().catch(() => undefined);
}

describe('search attributes and memo on every run Trellis starts', () => {
  serverIt('a run started by POST /executions carries tenant, workflow, version, trigger and the name', async () => {
    const auth = { authorization: `Bearer ${key}` };
    const created = await app.inject({ method: 'POST', url: '/workflows', headers: auth, payload: { name: 'searchable', definition: { name: 'searchable', nodes: [{ id: 'a', type: 'noop' }] } } });
    expect(created.statusCode).toBe(201);
    const workflowId = (created.json() as { id: string }).id;
    const started = await app.inject({ method: 'POST', url: '/executions', headers: auth, payload: { workflowId } });
    expect(started.statusCode).toBe(202);
    const executionId = (started.json() as { id: string }).id;
    await finished(executionId);
    expect(await labelsOf(executionId)).toEqual({ tenant: tenantId, workflowId, version: 1, trigger: 'MANUAL', name: 'searchable' });
  });

  serverIt('map batches, map children and subworkflows inherit them; a run that learns its version adds it', async (h) => {
    await h.store('sa-child', { name: 'sa child', nodes: [{ id: 'x', type: 'noop' }] });
    const definition: WorkflowDefinition = {
      name: 'sa parent',
      nodes: [
        { id: 'each', type: 'map', config: { items: '[0..14]', body: { nodes: [{ id: 'b', type: 'noop' }] } } },
        { id: 'sub', type: 'subworkflow', config: { workflowId: 'sa-child' } },
      ],
    };
    const workflowId = `sa-parent-${Date.now()}`;
    const version = await h.store(workflowId, definition);
    // No version and no definition: the run loads the latest, as a scheduled run does.
    const executionId = `ex_sa_${Date.now()}`;
    await gateway.startRun(executionId, { tenantId, workflowId, iterationLimits: { inlineOperations: 5, batchSize: 10 } }, { trigger: 'RETRY' });
    const result = await h.server.env.client.workflow.getHandle(executionId).result();
    expect(result.status).toBe('SUCCEEDED');
    const own = { tenant: tenantId, workflowId, version };
    expect(await labelsOf(executionId)).toEqual({ ...own, trigger: 'RETRY', name: 'sa parent' });
    expect(await labelsOf(`${executionId}.each`)).toEqual({ ...own, trigger: 'ITERATION', name: 'sa parent' });
    expect(await labelsOf(`${executionId}.each.0-9`)).toEqual({ ...own, trigger: 'MAP_BATCH', name: 'sa parent' });
    expect(await labelsOf(`${executionId}.each.10-14`)).toEqual({ ...own, trigger: 'MAP_BATCH', name: 'sa parent' });
    // The child runs another stored workflow: its own id, version (learnt on load) and name.
    expect(await labelsOf(`${executionId}.sub`)).toEqual({ tenant: tenantId, workflowId: 'sa-child', version: 1, trigger: 'SUBWORKFLOW', name: 'sa child' });
  });

  serverIt('a namespace without the keys still starts runs, without attributes, and children add none', async (h) => {
    const workflowId = `sa-unregistered-${Date.now()}`;
    await h.store(workflowId, { name: 'sa plain', nodes: [{ id: 'each', type: 'map', config: { items: '[0..14]', body: { nodes: [{ id: 'b', type: 'noop' }] } } }] });
    const plain = createTemporalGateway(h.server.env.client, h.taskQueue, async () => false);
    const executionId = `ex_sa_plain_${Date.now()}`;
    await plain.startRun(executionId, { tenantId, workflowId, iterationLimits: { inlineOperations: 5, batchSize: 10 } }, { trigger: 'MANUAL' });
    expect((await h.server.env.client.workflow.getHandle(executionId).result()).status).toBe('SUCCEEDED');
    const none = { tenant: undefined, workflowId: undefined, version: undefined, trigger: undefined, name: undefined };
    expect(await labelsOf(executionId)).toEqual(none);
    expect(await labelsOf(`${executionId}.each.0-9`)).toEqual(none);
  });

  serverIt("a schedule's runs carry SCHEDULE and the version they ran", async (h) => {
    const workflowId = `sa-scheduled-${Date.now()}`;
    const version = await h.store(workflowId, { name: 'sa scheduled', nodes: [{ id: 'a', type: 'noop' }] });
    const scheduleId = `sch_sa_${Date.now()}`;
    await gateway.createSchedule(scheduleId, { workflowId, tenantId, cron: '0 0 1 1 *', timezone: 'UTC', overlap: 'allow_all', paused: true });
    try {
      await gateway.triggerSchedule(scheduleId);
      let executionId: string | undefined;
      for (let i = 0; i < 100 && !executionId; i++) {
        executionId = (await gateway.describeSchedule(scheduleId))?.recentActions[0]?.executionId;
        if (!executionId) await new Promise((r) => setTimeout(r, 100));
      }
      expect(executionId).toBeDefined();
      await finished(executionId!);
      expect(await labelsOf(executionId!)).toEqual({ tenant: tenantId, workflowId, version, trigger: 'SCHEDULE', name: 'sa scheduled' });
    } finally {
      await gateway.deleteSchedule(scheduleId);
    }
  });
});
