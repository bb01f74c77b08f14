import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/chromium.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { artifactsDir, openContributePage, reportFigures, signUpInPortal, webDir } from '../../tests/helpers/browser.ts';
import { testCoordinator } from '../../tests/helpers/coordinator.ts';

/**
 * Training in Chromium end to end: a developer submits it from the portal's form and watches
 * the curve grow on the job page; two contribute tabs (WebGPU on SwiftShader) compute the
 * shards' gradients; every one passes the coordinator's recomputation.
 */
describe('training on two Chromium tabs', () => {
  let coordinator: Coordinator;
  let browser: Browser;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite', { SUPERNET_WEB_DIR: webDir() });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await coordinator?.close();
  });

  it('two tabs train an MLP on the shipped digits; the job page draws the loss and accuracy per round as they come; the result shows the test accuracy', async () => {
    const portal = await browser.newPage({ viewport: { width: 1100, height: 1300 } });
    const errors: string[] = [];
    portal.on('pageerror', (e) => errors.push(e.message));
    await signUpInPortal(portal, coordinator.url, 'train-dev@example.com');
    await portal.goto(`${coordinator.url}/portal#/new`);
    await portal.selectOption('#kind', 'train');
    await portal.fill('#train-layers', 'dense:32, relu, dense:10');
    await portal.press('#train-layers', 'Tab');
    await portal.fill('#train-epochs', '0.4');
    await portal.press('#train-epochs', 'Tab');
    // 0.4 of 8,000 rows in batches of 256: 13 rounds of 4 shards.
    await portal.waitForFunction(() => /^52 units/.test(document.getElementById('estimate')!.textContent!));
    await portal.click('#submit');
    await portal.waitForFunction(() => /^#\/job\/[0-9a-f-]{36}$/.test(location.hash) || document.getElementById('submit-error')?.textContent);
    expect(await portal.evaluate(() => document.getElementById('submit-error')?.textContent ?? '')).toBe('');
    const id = /#\/job\/([0-9a-f-]{36})$/.exec(portal.url())![1]!;

    const tabs = [await openContributePage(browser, coordinator.url, { email: 'train-tab-one@example.com' }), await openContributePage(browser, coordinator.url, { email: 'train-tab-two@example.com' })];
    const started = Date.now();
    await Promise.all(tabs.map((t) => t.page.click('#start')));
    // Mid-training: the curve has some rounds and the page says which round is at work.
    await portal.waitForFunction(() => (document.querySelector('#train-curve path')?.getAttribute('d')?.split('L').length ?? 0) >= 4, null, { timeout: 300_000 });
    expect(await portal.textContent('#job-progress-text')).toMatch(/^round \d+ of 13 · \d+ of 52 units verified$/);
    expect(await portal.textContent('#train-summary')).toMatch(/^Round \d+ of 13: loss \d\.\d{3}, [\d.]+% of the round's batch right\.$/);
    const shot = join(artifactsDir, 'train-job-page-mid-training.png');
    await portal.screenshot({ path: shot, fullPage: true });
    expect(existsSync(shot)).toBe(true);

    await portal.waitForFunction(() => document.getElementById('job-state')!.textContent === 'done', null, { timeout: 600_000 });
    const seconds = (Date.now() - started) / 1000;
    await portal.waitForSelector('#train-final');
    const final = (await portal.textContent('#train-final'))!;
    expect(final).toMatch(/^Round 13 of 13: loss [\d.]+, [\d.]+% of the round's batch right · test accuracy [\d.]+% on 2000 held-out rows\.$/);
    await portal.screenshot({ path: join(artifactsDir, 'train-job-page-done.png'), fullPage: true });
    const testAccuracy = Number(/test accuracy ([\d.]+)%/.exec(final)![1]) / 100;
    expect(testAccuracy).toBeGreaterThan(0.6); // 13 steps from random weights; the long runs are in bench

    const attempts = await coordinator.deps.db
      .selectFrom('attempts')
      .innerJoin('units', 'units.id', 'attempts.unit_id')
      .innerJoin('nodes', 'nodes.id', 'attempts.node_id')
      .select(['attempts.state', 'nodes.account_id'])
      .where('units.job_id', '=', id)
      .where('attempts.state', 'in', ['valid', 'invalid'])
      .execute();
    expect(attempts.filter((a) => a.state === 'invalid')).toEqual([]);
    expect(attempts.length).toBe(52);
    expect(new Set(attempts.map((a) => a.account_id)).size).toBe(2);
    reportFigures('train-chromium', { job: 'MLP 784-32-10, 13 rounds of 256 digits in 4 shards, 2 Chromium tabs on SwiftShader', seconds: Math.round(seconds), roundsPerMinute: +((13 * 60) / seconds).toFixed(1), testAccuracy });
    expect([...errors, ...tabs.flatMap((t) => t.errors)]).toEqual([]);
  }, 900_000);
});
