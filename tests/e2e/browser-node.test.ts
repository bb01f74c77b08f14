import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from '@playwright/test';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/chromium.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { parseNpy } from '../../shaders/npy.ts';
import { artifactsDir, eventsSince, openContributePage, reportFigures, snapshot, until, webDir } from '../helpers/browser.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, testCoordinator } from '../helpers/coordinator.ts';
import { expectClose, randomSpecReference } from '../helpers/matrices.ts';

/**
 * The browser node end to end: Debian's Chromium, WebGPU on SwiftShader, the built pages served
 * by a real coordinator (PGlite), jobs submitted over the API, results checked against the CPU.
 */
describe('the browser node and the contribute page', () => {
  let coordinator: Coordinator;
  let browser: Browser;
  let dev: TestClient;

  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    for (const context of browser.contexts()) await context.close();
    await coordinator?.close();
  });

  async function start(env: Record<string, string> = {}) {
    coordinator = await testCoordinator('pglite', { SUPERNET_WEB_DIR: webDir(), ...env });
    dev = await TestClient.signup(coordinator.url, 'developer@example.com');
    await dev.useNewKey();
  }

  const numberIn = async (page: import('@playwright/test').Page, id: string) => Number(await page.textContent(`#${id}`));

  it('two browser profiles contribute to one job: the result is A·B, both pages show their units and credits', async () => {
    await start();
    const [alice, bob] = [await openContributePage(browser, coordinator.url, { email: 'alice@example.com' }), await openContributePage(browser, coordinator.url, { email: 'bob@example.com' })];
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 2048, k: 1024, n: 2048, seed: 21 }, tile: 256 } }, 201);
    await Promise.all([alice.page.click('#start'), bob.page.click('#start')]);

    const done = await dev.waitForJob(job.id);
    expect(done.state).toBe('done');
    const result = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/result`)).arrayBuffer()));
    expectClose(result, randomSpecReference(2048, 1024, 2048, 21), 1024);

    // Each page counts its own units and credits (from the ledger), and the account's total.
    const figures = [];
    for (const { page } of [alice, bob]) {
      const s = await until(page, 'units done', (s) => s.session.unitsDone > 0);
      await eventually(async () => (await numberIn(page, 'credits-session')) > 0 && (await numberIn(page, 'credits-total')) > 0, 'credits on the page', 15_000);
      expect(await numberIn(page, 'units')).toBe(s.session.unitsDone);
      const longest = await page.evaluate((from) => Math.max(0, ...(window as any).longTasks.filter((t: { start: number }) => t.start >= from).map((t: { duration: number }) => t.duration)), s.session.clickedAt!);
      figures.push({ units: s.session.unitsDone, firstVerifiedMs: Math.round(s.session.firstAcceptedAt! - s.session.clickedAt!), longestTaskMs: longest, calibratedGflops: +s.gflopsCalibrated.toFixed(2) });
    }
    const units = figures.map((f) => f.units);
    expect(units[0]! + units[1]!).toBeGreaterThanOrEqual(64);
    const valid = await coordinator.deps.db.selectFrom('attempts').innerJoin('nodes', 'nodes.id', 'attempts.node_id').select(['nodes.account_id']).where('attempts.state', '=', 'valid').execute();
    expect(new Set(valid.map((v) => v.account_id)).size).toBe(2);
    reportFigures('browser-node', { job: '2048×1024 · 1024×2048, 64 units of 134 MFLOP, 2 Chromium profiles on SwiftShader', pages: figures });
    for (const f of figures) {
      expect(f.firstVerifiedMs).toBeLessThan(10_000);
      expect(f.longestTaskMs).toBeLessThanOrEqual(50);
    }
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  });
});
