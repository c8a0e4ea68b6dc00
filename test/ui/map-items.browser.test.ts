import { describe, expect, it } from 'vitest';
import { createMapItemsActivities } from '../../src/activities/map-items-mirror';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { createTestApi } from '../support/api';
import { seedExecution, seedNodeRun, seedWorkflow, tenantId as tenantOf } from '../support/executions';
import { ensureConsoleBuilt, haveChromium, launchChromium } from '../support/browser';

/**
 * A map node's panel in the console (real browser, real API, fresh database): its items, each
 * with a link to the workflow that ran its body in the Temporal Web UI.
 */
const chromiumThere = haveChromium('test/ui/map-items.browser.test.ts');

const DEFINITION: WorkflowDefinition = {
  name: 'fan-out',
  nodes: [{ id: 'each', type: 'map', config: { items: '[0..2]', body: { nodes: [{ id: 'work', type: 'noop' }] } } }],
};

describe.skipIf(!chromiumThere)('map items in the console', () => {
  it("lists a map node's items with a 'body run' link to the workflow that ran each", async () => {
    ensureConsoleBuilt();
    const api = await createTestApi();
    const browser = await launchChromium();
    try {
      const url = await api.app.listen({ host: '127.0.0.1', port: 0 });
      const db = api.database.db;
      const tenantId = await tenantOf(db, 'acme');
      const workflowId = await seedWorkflow(db, tenantId, { versions: [DEFINITION] });
      const runId = await seedExecution(db, { tenantId, workflowId, status: 'SUCCEEDED' });
      await seedNodeRun(db, { executionId: runId, nodeId: 'each', type: 'map', status: 'SUCCEEDED', output: { counts: { total: 3, succeeded: 3, failed: 0 } } });
      const { recordMapItems } = createMapItemsActivities(db);
      const row = (index: number) => ({ index, status: 'SUCCEEDED' as const, attempt: 1, output: index });
      await recordMapItems({ executionId: runId, nodeId: 'each', items: [row(0), row(1)], workflowId: `${runId}.each.0-1`, runId: 'temporal-run-1' });
      await recordMapItems({ executionId: runId, nodeId: 'each', items: [row(2)] }); // recorded without its workflow

      const page = await browser.newPage();
      await page.goto(`${url}/ui/`);
      await page.evaluate(`sessionStorage.setItem('trellis.apiKey', ${JSON.stringify(api.key)})`);
      await page.goto(`${url}/ui/runs/${runId}`);
      await page.locator('svg [data-node-id="each"]').click();
      await expect.poll(() => page.getByTestId('map-item').count()).toBe(3);
      const links = page.getByTestId('map-items').getByRole('link', { name: /body run/ });
      expect(await links.count()).toBe(2);
      const config = (await (await fetch(`${url}/ui/config.json`)).json()) as { temporalUiUrl: string; namespace: string };
      expect(await links.first().getAttribute('href')).toBe(
        `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.namespace)}/workflows/${encodeURIComponent(`${runId}.each.0-1`)}/temporal-run-1/history`,
      );
      // The counts arrive by their own request: wait for them rather than read the first render.
      await expect.poll(() => page.getByTestId('map-progress').textContent()).toContain('3 / 3 items');
    } finally {
      await browser.close();
      await api.close();
    }
  }, 60_000);
});
