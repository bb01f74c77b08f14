import type { Browser } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/chromium.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { parseNpy } from '../../shaders/npy.ts';
import { openContributePage, reportFigures, until, webDir, type ContributePage } from '../helpers/browser.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, testCoordinator } from '../helpers/coordinator.ts';
import { expectClose, randomSpecReference } from '../helpers/matrices.ts';

/**
 * Blobs peer to peer in real browser nodes (#18): three Chromium profiles on the contribute
 * page work one matmul job whose panels every unit of a row or column shares. With P2P on, a
 * panel one tab fetched from the coordinator reaches the others over WebRTC data channels; the
 * coordinator's blob egress (/metrics) is compared with the same job with P2P off.
 */
describe('browser nodes share input blobs peer to peer', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  const [m, k, n, tile, seed] = [1536, 1024, 1536, 256, 18];

  async function egressFor(p2p: boolean) {
    const coordinator: Coordinator = await testCoordinator('pglite', { SUPERNET_WEB_DIR: webDir(), SUPERNET_P2P: p2p ? '1' : '0' });
    const pages: ContributePage[] = [];
    try {
      const dev = await TestClient.signup(coordinator.url, `dev-${p2p}@example.com`);
      await dev.useNewKey();
      for (const who of ['ann', 'ben', 'cat']) pages.push(await openContributePage(browser, coordinator.url, { email: `${who}-${p2p}@example.com` }));
      // All three welcomed (and, with P2P, registered with the signalling) before the job exists,
      // so that no tab has the panels to itself by starting first.
      await Promise.all(pages.map(({ page }) => page.click('#start')));
      await Promise.all(pages.map(({ page }) => until(page, 'working', (s) => s.state === 'working' && s.connected && s.sharing === p2p)));
      const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m, k, n, seed }, tile } }, 201);
      const done = await dev.waitForJob(job.id, 600_000);
      expect(done.state).toBe('done');
      const egress = await blobEgress(coordinator.url);
      const result = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/result`)).arrayBuffer()));
      expectClose(result, randomSpecReference(m, k, n, seed), k);
      const shown = await Promise.all(pages.map(({ page }) => until(page, 'blob figures', (s) => s.blobs.fromPeers + s.blobs.fromCoordinator > 0)));
      for (const { errors } of pages) expect(errors).toEqual([]);
      return { coordinator, pages, egress, shown };
    } catch (err) {
      for (const { context } of pages) await context.close();
      await coordinator.close();
      throw err;
    }
  }

  it('three tabs on one job: a correct product, and at least 2× less blob egress with P2P on than off', async () => {
    const on = await egressFor(true);
    const fromPeers = on.shown.reduce((sum, s) => sum + s.blobs.fromPeers, 0);
    const served = on.shown.reduce((sum, s) => sum + s.blobs.toPeers, 0);
    // Each tab's page says where its inputs came from; the network page sums what nodes report.
    expect(fromPeers).toBeGreaterThan(0);
    expect(served).toBeGreaterThanOrEqual(fromPeers);
    const line = await on.pages.find((_, i) => on.shown[i]!.blobs.fromPeers > 0)!.page.textContent('#sharing');
    expect(line).toMatch(/^Inputs: [\d.,]+ [kMG]?B from other nodes, [\d.,]+ [kMG]?B from the coordinator \(\d+% from peers\) · [\d.,]+ [kMG]?B served to other nodes\.$/);
    const network = await on.pages[0]!.context.newPage();
    await network.goto(`${on.coordinator.url}/network`);
    await eventually(async () => /%$/.test((await network.textContent('#blobs-share')) ?? ''), 'the network page shows the share from peers', 30_000);
    for (const { context } of on.pages) await context.close();
    await on.coordinator.close();

    const off = await egressFor(false);
    expect(off.shown.every((s) => s.blobs.fromPeers === 0)).toBe(true);
    for (const { context } of off.pages) await context.close();
    await off.coordinator.close();

    const panels = ((m + n) / tile) * tile * k * 4; // every A row panel and B column panel once
    const figures = { panelsMiB: panels / 2 ** 20, egressOnMiB: +(on.egress / 2 ** 20).toFixed(1), egressOffMiB: +(off.egress / 2 ** 20).toFixed(1), ratio: +(off.egress / on.egress).toFixed(2), fromPeersMiB: +(fromPeers / 2 ** 20).toFixed(1) };
    reportFigures('p2p-egress', figures);
    expect(on.egress).toBeGreaterThanOrEqual(panels * 0.99); // each panel left the coordinator at least once
    expect(off.egress / on.egress).toBeGreaterThanOrEqual(2);
  }, 900_000);
});

async function blobEgress(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^supernet_blob_egress_bytes_total (\S+)$/m.exec(text)?.[1] ?? NaN);
}
