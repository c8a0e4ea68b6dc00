import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createNodeRegistry } from '../../src/activities';
import { createApiKey } from '../../src/services/api-keys';
import { FakeTemporalGateway } from '../../src/temporal/fake-gateway';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { tenantId as tenantOf } from '../support/executions';
import { ensureConsoleBuilt, haveChromium, launchChromium } from '../support/browser';

/**
 * The console's Limits view (issue 24, DESIGN §5 GET /limits) in a real browser against the real
 * API on a fresh database. The limiter workflows' counts come from the fake gateway (what a
 * limiter's state query returns); the view shows the tenant's keys in use, marks a full key,
 * leaves out idle keys and other tenants' keys, and follows the counts when refreshed.
 */

const chromiumThere = haveChromium('test/ui/limits.browser.test.ts');

let database: TestDatabase;
let temporal: FakeTemporalGateway;
let app: FastifyInstance;
let base: string;
let key: string;
let browser: Browser;
let page: Page;

describe.skipIf(!chromiumThere)('console Limits view in chromium', () => {
  beforeAll(async () => {
    ensureConsoleBuilt();
    database = await createTestDatabase();
    temporal = new FakeTemporalGateway();
    app = await buildApp({ db: database.db, temporal, catalog: createNodeRegistry().catalog() });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    ({ key } = await createApiKey(database.db, 'limits-acme'));
    await createApiKey(database.db, 'limits-other');
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(10_000);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await database?.drop();
  });

  it('lists the tenant\'s keys in use with limit, in flight and waiting; a full key is marked; refresh follows the counts', async () => {
    const acme = await tenantOf(database.db, 'limits-acme');
    const other = await tenantOf(database.db, 'limits-other');
    temporal.limiters.set(acme, [
      { tenantId: acme, kind: 'concurrency', key: 'payments-api', limit: 5, inFlight: 5, waiting: 3 },
      { tenantId: acme, kind: 'rateLimit', key: 'payments:acct-1', limit: 10, inFlight: 4, waiting: 0 },
      { tenantId: acme, kind: 'run', key: 'cust-42', workflowId: 'wf_sync', limit: 1, inFlight: 1, waiting: 2 },
      { tenantId: acme, kind: 'concurrency', key: 'idle-key', limit: 3, inFlight: 0, waiting: 0 },
    ]);
    temporal.limiters.set(other, [{ tenantId: other, kind: 'concurrency', key: 'someone-elses', limit: 2, inFlight: 2, waiting: 9 }]);

    await page.goto(`${base}/ui/`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Limits' }).click();
    await page.waitForURL(/\/ui\/limits$/);
    await page.getByRole('heading', { name: 'Limits' }).waitFor();

    const rows = page.getByTestId('limit-row');
    await rows.first().waitFor();
    // Node keys, then run keys (by scope, then key); the idle key and the other tenant's are not listed.
    const keys = await Promise.all((await rows.all()).map((r) => r.getAttribute('data-key')));
    expect(keys).toEqual(['payments-api', 'payments:acct-1', 'cust-42']);
    const row = (k: string) => page.locator(`[data-testid="limit-row"][data-key="${k}"]`);
    const cells = async (k: string) => ({
      limit: await row(k).getByTestId('limit-limit').textContent(),
      inFlight: await row(k).getByTestId('limit-in-flight').textContent(),
      waiting: await row(k).getByTestId('limit-waiting').textContent(),
    });
    expect(await cells('payments-api')).toEqual({ limit: '5', inFlight: '5', waiting: '3' });
    expect(await cells('payments:acct-1')).toEqual({ limit: '10', inFlight: '4', waiting: '0' });
    expect(await row('cust-42').textContent()).toMatch(/^run\s*runs/);
    expect(await row('payments:acct-1').textContent()).toContain('rate limit');
    // The run key links to its workflow; a node key is any workflow's.
    expect(await row('cust-42').getByRole('link', { name: 'wf_sync' }).getAttribute('href')).toMatch(/\/workflows\/wf_sync$/);
    expect(await row('payments-api').textContent()).toContain('any');
    // A key at its limit is marked; one below it is not.
    expect(await row('payments-api').getByTestId('limit-in-flight').locator('.badge').count()).toBe(1);
    expect(await row('payments:acct-1').getByTestId('limit-in-flight').locator('.badge').count()).toBe(0);
    expect(await page.getByText('someone-elses').count()).toBe(0);

    // The holders finish: after a refresh the keys drop off and the view says nothing is in use.
    temporal.limiters.set(acme, [{ tenantId: acme, kind: 'concurrency', key: 'payments-api', limit: 5, inFlight: 2, waiting: 0 }]);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('[data-testid="limit-row"][data-key="cust-42"]').waitFor({ state: 'detached' });
    expect(await cells('payments-api')).toEqual({ limit: '5', inFlight: '2', waiting: '0' });
    temporal.limiters.set(acme, []);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByText('No concurrency or rate-limit key is in use now.').waitFor();
  }, 60_000);
});
