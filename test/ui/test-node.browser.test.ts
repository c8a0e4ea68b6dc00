import { describe, expect, it } from 'vitest';
import type { WorkflowDefinition } from '../../src/domain/definition';
import { createTestApi } from '../support/api';
import { seedWorkflow, tenantId as tenantOf } from '../support/executions';
import { ensureConsoleBuilt, haveChromium, launchChromium } from '../support/browser';

/**
 * "Test node" in the definition editor (real browser, real API, fresh database; no Temporal
 * server: in-workflow types are evaluated by the API): pick a node, give the input and the
 * outputs it reads, see its status, output or error, duration and attempts.
 */
const chromiumThere = haveChromium('test/ui/test-node.browser.test.ts');

const DEFINITION: WorkflowDefinition = {
  name: 'totals',
  nodes: [
    { id: 'fetch', type: 'http', config: { method: 'GET', url: 'https://api.example.com/orders' } },
    { id: 'sum', type: 'transform', config: { expression: '{ "who": input.who, "total": $sum(nodes.fetch.output.body.total) }' } },
    { id: 'big', type: 'condition', config: { expression: 'nodes.sum.output.total > 100' } },
  ],
  edges: [
    { from: 'fetch', to: 'sum' },
    { from: 'sum', to: 'big' },
  ],
};

describe.skipIf(!chromiumThere)('Test node in the console', () => {
  it("evaluates a transform against the given input and upstream outputs, and shows a failure's error and a refused request's path", async () => {
    ensureConsoleBuilt();
    const api = await createTestApi();
    const browser = await launchChromium();
    try {
      const url = await api.app.listen({ host: '127.0.0.1', port: 0 });
      const db = api.database.db;
      const workflowId = await seedWorkflow(db, await tenantOf(db, 'acme'), { versions: [DEFINITION] });
      const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
      page.setDefaultTimeout(10_000);
      await page.goto(`${url}/ui/`);
      await page.evaluate(`sessionStorage.setItem('trellis.apiKey', ${JSON.stringify(api.key)})`);
      await page.goto(`${url}/ui/workflows/${workflowId}`);

      const panel = page.getByTestId('test-node');
      await expect.poll(() => panel.getByLabel('node to test').locator('option').allTextContents()).toEqual(['fetch (http)', 'sum (transform)', 'big (condition)']);
      await panel.getByLabel('node to test').selectOption('sum');
      await panel.getByLabel('test input').fill('{ "who": "ada" }');
      await panel.getByLabel('upstream outputs').fill('{ "fetch": { "status": 200, "body": [{ "total": 40 }, { "total": 90 }] } }');
      await panel.getByRole('button', { name: 'Test sum' }).click();
      await expect.poll(() => panel.getByTestId('test-node-status').textContent()).toBe('SUCCEEDED');
      expect(JSON.parse((await panel.getByTestId('test-node-output').textContent()) ?? '')).toEqual({ who: 'ada', total: 130 });
      expect(await panel.getByTestId('test-node-result').textContent()).toMatch(/transform · (<1|\d+) ms · 1 attempt/);

      // Unsaved edits are what is tested: the condition's threshold edited in the editor, not saved.
      const edited = { ...DEFINITION, nodes: DEFINITION.nodes.map((n) => (n.id === 'big' ? { ...n, config: { expression: 'nodes.sum.output.total > 1000' } } : n)) };
      await page.getByLabel('definition JSON').fill(JSON.stringify(edited, null, 2));
      await panel.getByLabel('node to test').selectOption('big');
      await panel.getByLabel('upstream outputs').fill('{ "sum": { "total": 130 } }');
      await panel.getByRole('button', { name: 'Test big' }).click();
      await expect.poll(async () => (await panel.getByTestId('test-node-output').textContent().catch(() => null)) ?? '').toContain('"result": false');

      // Not given, the node it reads is PENDING with a null output, and the condition fails as in a run.
      await panel.getByLabel('upstream outputs').fill('{}');
      await panel.getByRole('button', { name: 'Test big' }).click();
      await expect.poll(() => panel.getByTestId('test-node-status').textContent()).toBe('FAILED');
      expect(await panel.getByTestId('test-node-error').textContent()).toMatch(/^ExpressionTypeError: condition "big" must evaluate to true or false/);

      // A request the API refuses (an output for a node the definition lacks) shows its path.
      await panel.getByLabel('upstream outputs').fill('{ "ghost": 1 }');
      await panel.getByRole('button', { name: 'Test big' }).click();
      await expect.poll(() => panel.getByTestId('test-node-problem').textContent()).toContain('/body/nodes/ghost');
      expect(await page.getByTestId('test-node-result').count()).toBe(0);
    } finally {
      await browser.close();
      await api.close();
    }
  }, 60_000);
});
