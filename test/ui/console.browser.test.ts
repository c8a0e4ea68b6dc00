import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { createMirrorActivities } from '../../src/activities/mirror';
import { createApiKey } from '../../src/services/api-keys';
import { ExecutionEventHub } from '../../src/persistence/execution-event-hub';
import type { NodeTransition, RunTransition } from '../../src/contracts/mirror';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';
import { createTestApi } from '../support/api';
import { seedExecution, seedWorkflow, tenantId as tenantOf } from '../support/executions';
import { ensureConsoleBuilt, haveChromium, launchChromium } from '../support/browser';

/**
 * The web console in a real browser (playwright-core driving Debian's chromium) against the real
 * API on a fresh database. Temporal is the fake gateway; the test plays the worker by writing the
 * mirror the way dagWorkflow's activities do, and watches the page follow over SSE.
 */

const chromiumThere = haveChromium('test/ui/console.browser.test.ts');

const DEFINITION = {
  name: 'order-sync',
  description: 'fetch orders, branch on the count, ask a human, finish',
  nodes: [
    { id: 'fetch', type: 'http', config: { method: 'GET', url: "{{ input.baseUrl & '/orders' }}" }, retry: { maximumAttempts: 5 } },
    { id: 'alert', type: 'http', config: { method: 'POST', url: 'https://hooks.example.com/alert', body: '{{ nodes.fetch.error }}' } },
    { id: 'big', type: 'condition', config: { expression: '$count(nodes.fetch.output.body) > 10' } },
    { id: 'bulk', type: 'http', config: { method: 'POST', url: 'https://api.example.com/bulk', body: '{{ nodes.fetch.output.body }}' } },
    { id: 'one', type: 'transform', config: { expression: 'nodes.fetch.output.body[0]' } },
    { id: 'review', type: 'approval', config: { timeout: '1h' }, trigger: 'none_failed' },
    { id: 'done', type: 'noop' },
  ],
  edges: [
    { from: 'fetch', to: 'alert', on: 'error' },
    { from: 'fetch', to: 'big' },
    { from: 'big', to: 'bulk', when: 'true' },
    { from: 'big', to: 'one', when: 'false' },
    { from: 'bulk', to: 'review' },
    { from: 'one', to: 'review' },
    { from: 'review', to: 'done' },
  ],
};

let database: TestDatabase;
let hub: ExecutionEventHub;
let temporal: FakeTemporalGateway;
let app: FastifyInstance;
let base: string;
let key: string;
let browser: Browser;
let page: Page;
let mirror: ReturnType<typeof createMirrorActivities>;

describe.skipIf(!chromiumThere)('web console (/ui) in chromium', () => {
  beforeAll(async () => {
    ensureConsoleBuilt();
    database = await createTestDatabase();
    hub = new ExecutionEventHub();
    await hub.start(database.url);
    temporal = new FakeTemporalGateway();
    app = await buildApp({ db: database.db, temporal, catalog: createNodeRegistry().catalog(), events: hub });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    ({ key } = await createApiKey(database.db, 'acme'));
    mirror = createMirrorActivities(database.db);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 820 } });
    page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await hub?.close();
    await database?.drop();
  });

  it('serves the app under /ui with a client-side fallback, its config, and 404 for missing assets', async () => {
    const index = await fetch(`${base}/ui/runs/ex_whatever`);
    expect(index.status).toBe(200);
    expect(await index.text()).toContain('<div id="root">');
    const config = await fetch(`${base}/ui/config.json`);
    expect(await config.json()).toEqual({ temporalUiUrl: expect.stringMatching(/^https?:\/\//), namespace: expect.any(String) });
    expect((await fetch(`${base}/ui/assets/nope.js`)).status).toBe(404);
    const bare = await fetch(`${base}/ui`, { redirect: 'manual' });
    expect([bare.status, bare.headers.get('location')]).toEqual([302, '/ui/']);
    // Public page, protected data: the API itself still wants the key.
    expect((await fetch(`${base}/workflows`)).status).toBe(401);
  });

  it('create → edit with validation → run → watch nodes turn green live → approve → cancel another run', async () => {
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await page.goto(`${base}/ui/`);
    await page.getByLabel('API key').fill('trl_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('invalid API key').waitFor();
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();

    // Create a workflow from the starter definition.
    await page.getByLabel('New workflow').fill('order-sync');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.waitForURL(/\/ui\/workflows\/[^/]+$/);
    const workflowId = decodeURIComponent(page.url().split('/').pop()!);
    await page.getByText('✓ valid definition').waitFor();

    // A broken definition: the server's errors are listed with their paths and the save is refused.
    const editor = page.getByLabel('definition JSON');
    const broken = { ...DEFINITION, nodes: [...DEFINITION.nodes, { id: 'oops', type: 'nope' }], edges: [...DEFINITION.edges, { from: 'done', to: 'ghost' }] };
    await editor.fill(JSON.stringify(broken, null, 2));
    const validation = page.getByTestId('validation');
    await validation.getByText('/nodes/7/type').waitFor();
    await validation.getByText('/edges/7/to').waitFor();
    expect(await validation.textContent()).toMatch(/unknown node type "nope"/);
    expect(await page.getByRole('button', { name: 'Save as new version' }).isDisabled()).toBe(true);
    await editor.fill('{ "name": ');
    await validation.getByText('Not JSON').waitFor();

    // Fixed: saved as version 2.
    await editor.fill(JSON.stringify(DEFINITION, null, 2));
    await page.getByText('✓ valid definition').waitFor();
    await page.getByRole('button', { name: 'Save as new version' }).click();
    await page.getByText('saved as version 2').waitFor();
    await expect.poll(() => page.getByLabel('version').inputValue()).toBe('2');

    // Schedules of the workflow: add one, pause it, unpause it, trigger it now.
    await page.getByLabel('cron').fill('*/15 * * * *');
    await page.getByRole('button', { name: 'Add schedule' }).click();
    await page.getByText('schedule created').waitFor();
    const schedules = page.locator('ul.schedules');
    await schedules.getByText('*/15 * * * *').waitFor();
    await schedules.getByRole('button', { name: 'Pause' }).click();
    await schedules.getByText('paused', { exact: true }).waitFor();
    await schedules.getByRole('button', { name: 'Resume' }).click();
    await schedules.getByText('active', { exact: true }).waitFor();
    await schedules.getByRole('button', { name: 'Trigger now' }).click();
    await page.getByText('triggered:').getByRole('link').waitFor(); // the run it started
    expect(temporal.scheduleCalls.map((c) => c.method)).toEqual(['create', 'pause', 'unpause', 'trigger']);

    // Start a run; the console goes to its page.
    await page.getByLabel('run input').fill('{"baseUrl": "https://shop.example.com"}');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/ui\/runs\/ex_/);
    const runId = decodeURIComponent(page.url().split('/').pop()!);
    expect(temporal.started.get(runId)).toMatchObject({ workflowId, version: 2, input: { baseUrl: 'https://shop.example.com' } });
    await page.locator('[data-node-id="done"][data-status="PENDING"]').waitFor();
    expect(await page.locator('svg g.node').count()).toBe(DEFINITION.nodes.length);
    expect(await page.locator('svg g.edge').count()).toBe(DEFINITION.edges.length);
    await page.evaluate(() => ((globalThis as unknown as { marker: string }).marker = 'same page'));

    // The worker's mirror writes, one at a time; the page follows each over SSE.
    const worker = playWorker(runId, workflowId, 2);
    await worker.record();
    await worker.nodes({ nodeId: 'fetch', type: 'http', status: 'RUNNING', attempt: 1, startedAt: worker.at(0) });
    await nodeStatus(page, 'fetch', 'RUNNING');
    await worker.nodes({ nodeId: 'fetch', type: 'http', status: 'RUNNING', attempt: 2, startedAt: worker.at(0) });
    await expect.poll(() => page.locator('[data-node-id="fetch"]').textContent()).toContain('attempt 2');
    await worker.nodes(
      { nodeId: 'fetch', type: 'http', status: 'SUCCEEDED', attempt: 2, startedAt: worker.at(0), finishedAt: worker.at(1840), output: { status: 200, body: [{ id: 'o-1' }] } },
      { nodeId: 'alert', type: 'http', status: 'SKIPPED', attempt: 0, finishedAt: worker.at(1850) },
    );
    await nodeStatus(page, 'fetch', 'SUCCEEDED');
    await nodeStatus(page, 'alert', 'SKIPPED');
    expect(await page.locator('[data-node-id="fetch"] rect').first().getAttribute('fill')).toBe('#dcfce7'); // green
    await worker.nodes({ nodeId: 'big', type: 'condition', status: 'SUCCEEDED', attempt: 1, startedAt: worker.at(1850), finishedAt: worker.at(1852), output: { result: false } });
    await worker.nodes(
      { nodeId: 'bulk', type: 'http', status: 'SKIPPED', attempt: 0, finishedAt: worker.at(1853) },
      { nodeId: 'one', type: 'transform', status: 'SUCCEEDED', attempt: 1, startedAt: worker.at(1853), finishedAt: worker.at(1855), output: { id: 'o-1' } },
    );
    await worker.nodes({ nodeId: 'review', type: 'approval', status: 'WAITING', attempt: 1, startedAt: worker.at(1856) });
    for (const [id, status] of [['big', 'SUCCEEDED'], ['bulk', 'SKIPPED'], ['one', 'SUCCEEDED'], ['review', 'WAITING']] as const) {
      await nodeStatus(page, id, status);
    }

    // Clicking a node shows its config from the pinned definition, its output and error.
    await page.locator('[data-node-id="fetch"]').click();
    const panel = page.getByTestId('node-panel');
    await panel.getByText("{{ input.baseUrl & '/orders' }}").waitFor();
    expect(await panel.textContent()).toContain('"o-1"');
    // The waiting approval node can be approved from its panel.
    await page.locator('[data-node-id="review"]').click();
    await panel.getByRole('button', { name: 'Approve' }).waitFor();
    const shot = await page.screenshot({ type: 'png' });
    checkNotBlank(shot);
    // The README's screenshots come from the real journey (test/ui/journey.browser.test.ts).
    expect(shot.length).toBeLessThan(300 * 1024);

    await panel.getByLabel('approval data').fill('{"note": "looks right"}');
    await panel.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('approval sent').waitFor();
    expect(temporal.approvals).toEqual([{ executionId: runId, decision: { nodeId: 'review', approved: true, data: { note: 'looks right' }, by: expect.stringMatching(/^apikey:/) } }]);
    await worker.nodes({ nodeId: 'review', type: 'approval', status: 'SUCCEEDED', attempt: 1, startedAt: worker.at(1856), finishedAt: worker.at(9000), output: { approved: true, by: 'console' } });
    await worker.finish(
      { status: 'SUCCEEDED', output: { id: 'o-1' }, finishedAt: worker.at(9010) },
      { nodeId: 'done', type: 'noop', status: 'SUCCEEDED', attempt: 1, startedAt: worker.at(9005), finishedAt: worker.at(9006), output: {} },
    );
    await nodeStatus(page, 'review', 'SUCCEEDED');
    await nodeStatus(page, 'done', 'SUCCEEDED');
    await expect.poll(() => page.getByTestId('run-status').textContent()).toBe('SUCCEEDED');
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: string }).marker)).toBe('same page'); // no reload
    const temporalLink = await page.getByRole('link', { name: /Temporal UI/ }).getAttribute('href');
    // Workflow id and run id (the fake records "run-<id>"): the Web UI answers 404 for a run addressed by workflow id alone.
    expect(temporalLink).toMatch(new RegExp(`/namespaces/[^/]+/workflows/${runId}/run-${runId}/history$`));

    // A second run, cancelled from its page (after a confirmation): the API sends Temporal the cancel.
    await page.getByRole('link', { name: 'order-sync' }).first().click();
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL((url) => /\/ui\/runs\/ex_/.test(url.pathname) && !url.pathname.endsWith(runId));
    const second = decodeURIComponent(page.url().split('/').pop()!);
    const worker2 = playWorker(second, workflowId, 2);
    await worker2.record();
    await worker2.nodes({ nodeId: 'fetch', type: 'http', status: 'RUNNING', attempt: 1, startedAt: worker2.at(0) });
    await nodeStatus(page, 'fetch', 'RUNNING');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByText('cancel requested').waitFor();
    expect(dialogs.at(-1)).toMatch(/^Cancel run ex_/);
    expect(temporal.cancels).toEqual([{ executionId: second, reason: 'cancelled from the console' }]);
    // The workflow then cancels what is in flight; the page shows it, and offers no retry (nothing failed).
    await worker2.finish(
      { status: 'CANCELLED', error: { type: 'Cancelled', message: 'cancelled from the console' }, finishedAt: worker2.at(500) },
      { nodeId: 'fetch', type: 'http', status: 'CANCELLED', attempt: 1, startedAt: worker2.at(0), finishedAt: worker2.at(490) },
    );
    await nodeStatus(page, 'fetch', 'CANCELLED');
    await expect.poll(() => page.getByTestId('run-status').textContent()).toBe('CANCELLED');
    expect(await page.getByRole('button', { name: 'Retry from failure' }).count()).toBe(0);

    // A third run fails: that one offers a retry.
    await page.getByRole('link', { name: 'order-sync' }).first().click();
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL((url) => /\/ui\/runs\/ex_/.test(url.pathname) && !url.pathname.endsWith(second));
    const third = decodeURIComponent(page.url().split('/').pop()!);
    const worker3 = playWorker(third, workflowId, 2);
    await worker3.record();
    await worker3.finish(
      { status: 'FAILED', error: { type: 'HttpServerError', message: 'HTTP 503' }, finishedAt: worker3.at(500) },
      { nodeId: 'fetch', type: 'http', status: 'FAILED', attempt: 5, startedAt: worker3.at(0), finishedAt: worker3.at(490), error: { type: 'HttpServerError', message: 'HTTP 503' } },
    );
    await expect.poll(() => page.getByTestId('run-status').textContent()).toBe('FAILED');
    await page.getByRole('button', { name: 'Retry from failure' }).click();
    await page.waitForURL((url) => /\/ui\/runs\/ex_/.test(url.pathname) && !url.pathname.endsWith(third));
    const retried = decodeURIComponent(page.url().split('/').pop()!);
    expect(temporal.started.get(retried)).toMatchObject({ workflowId, version: 2 });

    // The runs list filters by status.
    await page.locator('header nav').getByRole('link', { name: 'Runs' }).click();
    await page.getByLabel('status filter').selectOption('CANCELLED');
    await expect.poll(() => page.locator('table.list tbody tr').count()).toBe(1);
    expect(await page.locator('table.list tbody').textContent()).toContain(second);
  }, 120_000);
});

describe.skipIf(!chromiumThere)('web console without live events', () => {
  it('falls back to polling the run when the server has no event stream (503)', async () => {
    const api = await createTestApi(); // no ExecutionEventHub: GET /executions/:id/events answers 503
    const browser2 = await launchChromium();
    try {
      const url = await api.app.listen({ host: '127.0.0.1', port: 0 });
      const tenantId = await tenantOf(api.database.db, 'acme');
      const workflowId = await seedWorkflow(api.database.db, tenantId);
      const runId = await seedExecution(api.database.db, { tenantId, workflowId });
      const firstNode = ((await api.request({ method: 'GET', url: `/executions/${runId}` })).json() as { nodes: { nodeId: string; type: string }[] }).nodes[0]!;
      const p = await browser2.newPage();
      await p.goto(`${url}/ui/`);
      await p.evaluate(`sessionStorage.setItem('trellis.apiKey', ${JSON.stringify(api.key)})`); // signed in already
      await p.goto(`${url}/ui/runs/${runId}`);
      await nodeStatus(p, firstNode.nodeId, 'PENDING');
      await createMirrorActivities(api.database.db).mirrorTransitions({
        executionId: runId,
        nodes: [{ seq: 1, nodeId: firstNode.nodeId, type: firstNode.type, status: 'SUCCEEDED', attempt: 1, startedAt: new Date().toISOString(), finishedAt: new Date().toISOString() }],
      });
      await p.locator(`svg [data-node-id="${firstNode.nodeId}"][data-status="SUCCEEDED"]`).waitFor({ timeout: 8_000 });
    } finally {
      await browser2.close();
      await api.close();
    }
  }, 60_000);
});

async function nodeStatus(page: Page, nodeId: string, status: string): Promise<void> {
  await page.locator(`svg [data-node-id="${nodeId}"][data-status="${status}"]`).waitFor();
}

/** The mirror writes dagWorkflow's activities would make, with the run's sequence numbers. */
function playWorker(executionId: string, workflowId: string, version: number) {
  const t0 = Date.now();
  let seq = 0;
  return {
    at: (ms: number) => new Date(t0 + ms).toISOString(),
    record: () =>
      mirror.recordRun({ executionId, temporalRunId: `run-${executionId}`, workflowId, version, input: {}, startedAt: new Date(t0).toISOString() }),
    nodes: (...nodes: Omit<NodeTransition, 'seq'>[]) => mirror.mirrorTransitions({ executionId, nodes: nodes.map((n) => ({ ...n, seq: ++seq })) }),
    finish: (run: Omit<RunTransition, 'seq'>, ...nodes: Omit<NodeTransition, 'seq'>[]) =>
      mirror.mirrorTransitions({ executionId, nodes: nodes.map((n) => ({ ...n, seq: ++seq })), run: { ...run, seq: ++seq } }),
  };
}

/** A real render: a sizeable PNG with varied pixels and the green of succeeded nodes, unlike a blank page. */
function checkNotBlank(buffer: Buffer): void {
  const png = PNG.sync.read(buffer);
  let sum = 0;
  let sumSq = 0;
  let green = 0;
  const colors = new Set<number>();
  for (let k = 0; k < png.data.length; k += 4) {
    const [r, g, b] = [png.data[k]!, png.data[k + 1]!, png.data[k + 2]!];
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    sum += y;
    sumSq += y * y;
    if (Math.abs(r - 0xdc) < 6 && Math.abs(g - 0xfc) < 6 && Math.abs(b - 0xe7) < 6) green++;
    colors.add((r << 16) | (g << 8) | b);
  }
  const n = png.width * png.height;
  const variance = sumSq / n - (sum / n) ** 2;
  expect(buffer.length).toBeGreaterThan(15_000);
  expect(variance).toBeGreaterThan(100);
  expect(colors.size).toBeGreaterThan(200);
  expect(green).toBeGreaterThan(2_000); // the SUCCEEDED nodes' fill
}
