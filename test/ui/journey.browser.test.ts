import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetDataDir } from '../../src/dev/data-dir';
import { startDev, type DevProcess } from '../dev/dev-process';
import { connectTestServer, type ServerEnv } from '../support/temporal';
import { haveChromium, launchChromium } from '../support/browser';

/**
 * The newcomer's first five minutes, for real: `npm run dev` (a child process with its own
 * Postgres, a real Temporal server and the demo target), the console in Debian's chromium, an
 * example created, run, watched live, approved; a run cancelled, a failed run retried, a node
 * seen retrying, a schedule made, paused, resumed, triggered and deleted. The README's
 * screenshots are taken here (written when missing or with TRELLIS_UPDATE_SCREENSHOTS=1).
 */

const DOCS = path.resolve(__dirname, '../../docs');
const chromiumThere = haveChromium('test/ui/journey.browser.test.ts');

let server: ServerEnv | undefined;
let dev: DevProcess | undefined;
let dataDir: string;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];

describe.skipIf(!chromiumThere)('the newcomer journey: npm run dev and the console', () => {
  beforeAll(async () => {
    server = await connectTestServer('test/ui/journey.browser.test.ts');
    if (!server) return;
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'trellis-journey-'));
    dev = await startDev({ temporalAddress: server.env.address, dataDir });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(20_000);
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    if (dev) expect(await dev.interrupt()).toBe(0);
    if (dataDir) await resetDataDir(dataDir);
    await server?.env.teardown();
  });

  it('signs in, creates approval-gate from its example, runs it live to SUCCEEDED after an approval, cancels, retries, schedules', async (ctx) => {
    if (!dev) return ctx.skip();
    await page.goto(`${dev.apiUrl}/ui/`);
    await page.getByLabel('API key').fill(dev.key);
    await page.getByRole('button', { name: 'Sign in' }).click();

    // New from example: the stored definition reads back in the order it was written.
    await page.getByLabel('New from example').selectOption('approval-gate');
    await page.getByRole('button', { name: 'Create from example' }).click();
    await page.waitForURL(/\/ui\/workflows\/[^/]+$/);
    await page.getByText('✓ valid definition').waitFor();
    const text = await page.getByLabel('definition JSON').inputValue();
    expect(text.indexOf('"nodes"')).toBeLessThan(text.indexOf('"edges"'));
    expect(text.indexOf('"from"')).toBeLessThan(text.indexOf('"to"'));
    expect(await page.getByTestId('dag-preview').locator('g.node').count()).toBe(5);
    await shoot('console-editor.png');

    // The run input is the example's sampleInput, pointed at this dev process's demo target.
    const input = JSON.parse(await page.getByLabel('run input').inputValue()) as { deployApi: string; changeId: string };
    expect(input).toMatchObject({ deployApi: dev.demoUrl, changeId: 'chg_2077' });
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/ui\/runs\/ex_/);
    const first = runIdOf(page);
    await nodeStatus('lock', 'SUCCEEDED');
    await nodeStatus('sign_off', 'WAITING');

    // The approval panel shows the rendered message and its deadline.
    await page.locator('[data-node-id="sign_off"]').click();
    const prompt = page.getByTestId('approval-prompt');
    await prompt.getByText('Deploy change chg_2077 requested by dana@example.com?').waitFor();
    expect(await prompt.textContent()).toMatch(/rejected automatically .* \(in 2[34]h/);
    const panel = page.getByTestId('node-panel');
    await panel.getByLabel('approval data').fill('not json');
    await panel.getByRole('button', { name: 'Approve' }).click();
    await panel.getByText('data is not JSON').waitFor();
    await shoot('console-run.png');
    await panel.getByLabel('approval data').fill('{"note": "ship it"}');
    await panel.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000 }).toBe('SUCCEEDED');
    for (const id of ['lock', 'sign_off', 'deploy', 'cleanup']) await nodeStatus(id, 'SUCCEEDED');
    await nodeStatus('notify_rejected', 'SKIPPED');
    const temporalLink = await page.getByRole('link', { name: /Temporal UI/ }).getAttribute('href');
    expect(temporalLink).toMatch(new RegExp(`/workflows/${first}/[0-9a-f-]{36}/history$`));

    // A second run waits for its approval: the runs list finds it under "waiting for approval"; cancel it.
    await page.getByRole('link', { name: 'approval-gate' }).first().click();
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL((url) => /\/ui\/runs\/ex_/.test(url.pathname) && !url.pathname.endsWith(first));
    const second = runIdOf(page);
    await nodeStatus('sign_off', 'WAITING');
    await page.locator('header nav').getByRole('link', { name: 'Runs' }).click();
    await page.getByLabel('status filter').selectOption('waiting-approval');
    await expect
      .poll(async () => {
        const rows = (await page.locator('table.list tbody').textContent()) ?? '';
        return [rows.includes(second), rows.includes(first)];
      })
      .toEqual([true, false]);
    expect(await page.locator('table.list tbody').textContent()).toContain('approval-gate'); // names, not ids
    await page.getByRole('link', { name: second }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000 }).toBe('CANCELLED');
    expect(dialogs.at(-1)).toMatch(/^Cancel run/);
    expect(await page.getByRole('button', { name: 'Retry from failure' }).count()).toBe(0);

    // A node that fails twice and then succeeds: the console shows the attempt and the last failure while it retries.
    await page.locator('header nav').getByRole('link', { name: 'Workflows' }).click();
    await page.getByLabel('New from example').selectOption('fetch-transform-post');
    await page.getByRole('button', { name: 'Create from example' }).click();
    await page.waitForURL(/\/ui\/workflows\/[^/]+$/);
    await page.getByText('✓ valid definition').waitFor();
    const flaky = { sourceUrl: `${dev.demoUrl}/flaky/journey-${Date.now()}?failures=3`, targetUrl: `${dev.demoUrl}/echo/summaries` };
    await page.getByLabel('run input').fill(JSON.stringify(flaky));
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/ui\/runs\/ex_/);
    await page.locator('[data-node-id="fetch"]').click();
    const retryNote = page.getByTestId('retry-note');
    await retryNote.getByText(/attempt [234] of 5/).waitFor();
    expect(await retryNote.textContent()).toMatch(/last failure: GET .* returned HTTP 503/);
    await shoot('console-retry.png');
    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 40_000 }).toBe('SUCCEEDED');
    await expect.poll(() => page.locator('[data-node-id="fetch"]').textContent()).toContain('attempt 4');

    // A run that fails (404 is not retried) offers "Retry from failure", which starts a new run.
    await page.getByRole('link', { name: 'fetch-transform-post' }).first().click();
    await page.getByLabel('run input').fill(JSON.stringify({ ...flaky, sourceUrl: `${dev.demoUrl}/fail/404` }));
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.waitForURL(/\/ui\/runs\/ex_/);
    const failed = runIdOf(page);
    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000 }).toBe('FAILED');
    await page.getByRole('button', { name: 'Retry from failure' }).click();
    await page.waitForURL((url) => /\/ui\/runs\/ex_/.test(url.pathname) && !url.pathname.endsWith(failed));
    await page.getByText(`retry of ${failed}`).waitFor();

    // Schedules: in a time zone, with the sample input; next runs shown; pause and resume keep the note; trigger; delete.
    await page.getByRole('link', { name: 'fetch-transform-post' }).first().click();
    await page.getByLabel('cron').fill('0 9 * * *');
    await page.getByLabel('timezone').fill('Europe/Paris');
    await page.getByRole('button', { name: 'Add schedule' }).click();
    const schedule = page.getByTestId('schedule');
    await schedule.getByText('Europe/Paris').waitFor();
    await schedule.getByTestId('next-runs').waitFor();
    expect(await schedule.textContent()).toContain(dev.demoUrl);
    await schedule.getByRole('button', { name: 'Pause' }).click();
    await schedule.getByText('paused', { exact: true }).waitFor();
    await schedule.getByRole('button', { name: 'Resume' }).click();
    await schedule.getByText('active', { exact: true }).waitFor();
    // The tenant's schedules page lists it by workflow name; its link leads back to the workflow.
    await page.locator('header nav').getByRole('link', { name: 'Schedules' }).click();
    const row = page.locator('table.list tbody tr', { hasText: 'Europe/Paris' });
    await row.waitFor();
    expect(await row.textContent()).toMatch(/fetch-transform-post.*0 9 \* \* \*.*active/);
    await row.getByRole('link', { name: 'fetch-transform-post' }).click();
    await schedule.waitFor();
    await schedule.getByRole('button', { name: 'Trigger now' }).click();
    const triggered = page.getByText('triggered:').getByRole('link');
    await triggered.waitFor({ timeout: 15_000 });
    expect(await triggered.textContent()).toMatch(/^ex_sch_/);
    await schedule.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('schedule deleted').waitFor();
    expect(dialogs.at(-1)).toMatch(/^Delete the schedule "0 9 \* \* \*" \(Europe\/Paris\)/);
    await expect.poll(() => page.getByTestId('schedule').count()).toBe(0);
  }, 300_000);
});

function runIdOf(p: Page): string {
  return decodeURIComponent(p.url().split('/').pop()!);
}

async function nodeStatus(nodeId: string, status: string): Promise<void> {
  await page.locator(`svg [data-node-id="${nodeId}"][data-status="${status}"]`).first().waitFor({ timeout: 30_000 });
}

/** A screenshot for the README: never blank; written when missing or asked for. */
async function shoot(name: string): Promise<void> {
  const shot = await page.screenshot({ type: 'png' });
  const png = PNG.sync.read(shot);
  const colors = new Set<number>();
  for (let k = 0; k < png.data.length; k += 4 * 7) colors.add((png.data[k]! << 16) | (png.data[k + 1]! << 8) | png.data[k + 2]!);
  expect(colors.size, `${name} looks blank`).toBeGreaterThan(100);
  const file = path.join(DOCS, name);
  if (!existsSync(file) || process.env.TRELLIS_UPDATE_SCREENSHOTS === '1') writeFileSync(file, shot);
}
