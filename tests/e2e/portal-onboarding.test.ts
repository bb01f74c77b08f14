import { join } from 'node:path';
import type { Browser, Page } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/chromium.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { artifactsDir, webDir, signUpInPortal } from '../helpers/browser.ts';
import { testCoordinator } from '../helpers/coordinator.ts';

/** Every form field of the page has a name a screen reader says (a label, or aria-label). */
const unlabelled = (page: Page) =>
  page.evaluate(() => [...document.querySelectorAll<HTMLInputElement | HTMLSelectElement>('#view input:not([type=radio]):not([type=hidden]), #view select')].filter((el) => !el.labels?.length && !el.getAttribute('aria-label')).map((el) => el.id || el.outerHTML.slice(0, 60)));

/** Onboarding in the portal (#21, point 8): copy buttons, next steps, tables that fit, labelled fields; and /docs. */
describe('the portal helps a newcomer on', () => {
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

  it('a new key: the secret and the next steps with it, each with a Copy button; a site: its tag to paste, copied; tables in their cards; every field labelled', async () => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: coordinator.url });
    const page = await context.newPage();
    await signUpInPortal(page, coordinator.url, 'onboard@example.com');

    await page.goto(`${coordinator.url}/portal#/keys`);
    await page.fill('#key-name', 'laptop');
    await page.click('#new-key button');
    const secret = (await page.waitForSelector('#secret:not(:empty)').then((e) => e.textContent()))!;
    expect(await page.textContent('#next-steps')).toContain(`export SUPERNET_URL=${coordinator.url} SUPERNET_KEY=${secret}`);
    expect(await page.textContent('#next-steps')).toContain('npx supernet agent');
    await page.click('#copy-secret');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    expect(await page.textContent('#copy-secret')).toBe('Copied');
    expect(await unlabelled(page)).toEqual([]);

    await page.goto(`${coordinator.url}/portal#/sites`);
    await page.fill('#site-name', 'a very long site name that goes on');
    await page.fill('#site-origins', 'https://a-rather-long-domain-name.example.com https://www.a-rather-long-domain-name.example.com');
    await page.click('#new-site button');
    await page.waitForSelector('#site-next:not([hidden])');
    const embed = (await page.textContent('#site-embed'))!;
    expect(embed).toMatch(/^<script src=".*widget\.js/);
    await page.click('#site-next button[data-copy]');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(embed);
    // The table stays inside its card (it scrolls within it when it must).
    const [table, panel] = await page.evaluate(() => [document.querySelector('#sites')!.parentElement!.getBoundingClientRect().right, document.querySelector('#view .panel')!.getBoundingClientRect().right]);
    expect(table).toBeLessThanOrEqual(panel!);
    expect(await unlabelled(page)).toEqual([]);
    await page.screenshot({ path: join(artifactsDir, 'portal-sites.png'), fullPage: true });

    for (const hash of ['#/new', '#/credits']) {
      await page.goto(`${coordinator.url}/portal${hash}`);
      await page.waitForSelector(`#view[data-route="${hash.slice(2)}"] .panel`);
      expect([hash, await unlabelled(page)]).toEqual([hash, []]);
    }
    // The credit history reads as lines a person understands.
    await page.waitForSelector('#view[data-route="credits"] #history tbody tr');
    expect(await page.textContent('#history tbody')).toContain('Welcome credits');
    await page.screenshot({ path: join(artifactsDir, 'portal-credits.png'), fullPage: true });
    // A job over the balance says what is wrong and what to do, and cannot be submitted (#21, point 5).
    await page.goto(`${coordinator.url}/portal#/new`);
    await page.check('input[value=example]');
    await page.fill('#bid', '1000000');
    await page.press('#bid', 'Tab');
    await page.waitForFunction(() => /That is more than the [\d.,]+ credits you have: lower the bid or the size, or earn credits by contributing/.test(document.getElementById('estimate')!.textContent!));
    expect(await page.isDisabled('#submit')).toBe(true);
    // Each kind's inputs too.
    for (const kind of ['render', 'frames', 'wgsl']) {
      await page.goto(`${coordinator.url}/portal#/new`);
      await page.selectOption('#kind', kind);
      expect([kind, await unlabelled(page)]).toEqual([kind, []]);
    }
    await context.close();
  });

  it('/docs opens with a quick start, and shows code as code, not backticks', async () => {
    const page = await browser.newPage();
    await page.goto(`${coordinator.url}/docs`);
    expect(await page.textContent('#quick-start + section')).toContain('npx supernet signup --email');
    expect(await page.textContent('#quick-start + section')).toContain(`ORIGIN=${coordinator.url}`);
    expect(await page.evaluate(() => document.body.innerText.includes('`'))).toBe(false);
    expect(await page.$$eval('.op p code', (c) => c.length)).toBeGreaterThan(0);
    await page.close();
  });
});
