import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/chromium.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { artifactsDir, webDir, signUpInPortal } from '../../tests/helpers/browser.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { spawnCli, stopChild, testCoordinator, waitForOutput } from '../../tests/helpers/coordinator.ts';
import { clipZip, warmCube } from './fixtures.ts';

describe('a frames job from the portal', () => {
  let coordinator: Coordinator;
  let browser: Browser;
  let agent: ReturnType<typeof spawnCli> | null = null;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite', { SUPERNET_WEB_DIR: webDir() });
    browser = await launchChromium();
  });
  afterAll(async () => {
    if (agent) await stopChild(agent);
    await browser?.close();
    await coordinator?.close();
  });

  it('a zip and a LUT chosen in the form, a chain typed; the job page shows the frames before and after', async () => {
    const contributor = await TestClient.signup(coordinator.url, 'frames-portal-agent@example.com');
    agent = spawnCli(['agent', '--url', coordinator.url, '--key', await contributor.useNewKey('agent'), '--name', 'filters']);
    const dir = mkdtempSync(join(tmpdir(), 'supernet-frames-portal-'));
    writeFileSync(join(dir, 'clip.zip'), clipZip(8, 80, 50));
    writeFileSync(join(dir, 'warm.cube'), warmCube());

    const page = await browser.newPage({ viewport: { width: 1100, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await signUpInPortal(page, coordinator.url, 'frames-portal@example.com');
    await page.goto(`${coordinator.url}/portal#/new`);
    await page.selectOption('#kind', 'frames');
    await page.waitForFunction(() => document.getElementById('estimate')!.textContent === 'Choose a zip of PNG frames to see the estimate.');
    await page.setInputFiles('#frames-zip', join(dir, 'clip.zip'));
    await page.fill('#frames-filters', 'blur:1.5, sobel, lut');
    await page.press('#frames-filters', 'Tab');
    // The chain names a LUT: the form says so until one is chosen.
    await page.waitForFunction(() => document.getElementById('estimate')!.textContent === 'The chain has a LUT: choose its .cube file.');
    await page.setInputFiles('#frames-lut', join(dir, 'warm.cube'));
    await page.waitForFunction(() => /^8 units/.test(document.getElementById('estimate')!.textContent!));
    await page.click('#submit');
    await page.waitForFunction(() => /^#\/job\//.test(location.hash));
    await waitForOutput(agent, /connected as node/, 120_000);

    await page.waitForFunction(() => document.querySelectorAll('#frames-before img').length === 8);
    await page.waitForFunction(() => document.getElementById('job-state')!.textContent === 'done', null, { timeout: 120_000 });
    await page.waitForFunction(() => document.querySelectorAll('#frames-result img').length === 8 && [...document.querySelectorAll<HTMLImageElement>('#frames-result img')].every((i) => i.complete && i.naturalWidth === 80));
    await page.waitForFunction(() => (document.getElementById('frames-after') as HTMLImageElement).naturalWidth === 8 * 100);
    expect(await page.textContent('#frames-done')).toBe('8');
    expect(await page.textContent('#download')).toBe('Download the result (a zip of the filtered frames (PNG))');
    await page.screenshot({ path: join(artifactsDir, 'frames-job-page.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 240_000);
});
