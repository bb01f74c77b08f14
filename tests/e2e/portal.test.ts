import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/chromium.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { randomMatrix } from '../../workloads/matmul/random.ts';
import { matmulReference } from '../../workloads/matmul/reference.ts';
import { encodeNpy, parseNpy } from '../../shaders/npy.ts';
import { artifactsDir, webDir } from '../helpers/browser.ts';
import { TestClient } from '../helpers/client.ts';
import { spawnCli, stopChild, testCoordinator, waitForOutput } from '../helpers/coordinator.ts';
import { expectClose } from '../helpers/matrices.ts';

describe('the developer portal', () => {
  let coordinator: Coordinator;
  let browser: Browser;
  const agents: ReturnType<typeof spawnCli>[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'supernet-portal-'));

  beforeAll(async () => {
    coordinator = await testCoordinator('pglite', { SUPERNET_WEB_DIR: webDir() });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => stopChild(a)));
    await browser?.close();
    await coordinator?.close();
  });

  it('sign up → a key → a matmul job from two uploaded .npy files → live progress to done → the download is A·B', async () => {
    const page = await browser.newPage({ acceptDownloads: true });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // What the portal costs to open: its own code and the client; the WGSL editor (CodeMirror) comes with its form only.
    const scripts: number[] = [];
    page.on('response', (r) => void (r.url().endsWith('.js') && r.body().then((b) => scripts.push(b.byteLength), () => {})));
    await page.goto(`${coordinator.url}/portal`);
    await page.waitForLoadState('networkidle');
    expect(scripts.reduce((a, b) => a + b, 0)).toBeLessThan(250_000);
    await page.fill('#email', 'portal@example.com');
    await page.fill('#password', 'correct horse battery');
    await page.click('#signup-button');
    await page.waitForSelector('#app:not([hidden])');
    expect(await page.textContent('#balance')).toBe('100,000.00');

    // An API key: the secret is shown once, and it works.
    await page.goto(`${coordinator.url}/portal#/keys`);
    await page.fill('#key-name', 'laptop');
    await page.click('#new-key button');
    const secret = (await page.waitForSelector('#secret:not(:empty)').then((e) => e.textContent()))!;
    expect(secret).toMatch(/^sn_/);
    expect((await fetch(`${coordinator.url}/api/me`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(200);
    expect(await page.textContent('#keys')).toContain('laptop');

    // A new job from two files: a bad file is refused on the spot; the estimate shows before submitting.
    const a = randomMatrix(512, 384, 61), b = randomMatrix(384, 512, 62);
    writeFileSync(join(dir, 'a.npy'), encodeNpy(a));
    writeFileSync(join(dir, 'b.npy'), encodeNpy(b));
    writeFileSync(join(dir, 'bad.npy'), 'garbage');
    await page.goto(`${coordinator.url}/portal#/new`);
    await page.setInputFiles('#file-a', join(dir, 'bad.npy'));
    await page.waitForFunction(() => /bad\.npy is not a float32 \.npy matrix/.test(document.getElementById('estimate')!.textContent!));
    // Choosing B meanwhile does not hide why there is no estimate: A is still the one to fix.
    await page.setInputFiles('#file-b', join(dir, 'b.npy'));
    await page.waitForFunction(() => /B \(384×512\) is uploading|bad\.npy is not/.test(document.getElementById('estimate')!.textContent!));
    await page.waitForFunction(() => /bad\.npy is not a float32 \.npy matrix.*Choose another A/.test(document.getElementById('estimate')!.textContent!));
    expect(await page.isDisabled('#submit')).toBe(true);
    await page.setInputFiles('#file-a', join(dir, 'a.npy'));
    await page.waitForSelector('#estimate-credits');
    expect(await page.textContent('#estimate')).toMatch(/^16 units, 0\.20 GFLOP \(check\): estimate/);
    await page.click('#submit');
    await page.waitForURL(/#\/job\/[0-9a-f-]{36}$/);
    const jobId = page.url().split('/').at(-1)!;
    await page.waitForFunction(() => document.getElementById('job-state')?.textContent === 'queued');
    await page.waitForFunction(() => document.querySelectorAll('#grid span.pending').length === 16);

    // Nodes: two Dawn agents of another account. The page follows over server-sent events.
    const worker = await TestClient.signup(coordinator.url, 'portal-agents@example.com');
    for (let i = 0; i < 2; i++) {
      const agent = spawnCli(['agent', '--url', coordinator.url, '--key', await worker.useNewKey(`agent${i}`), '--throttle', '30']);
      agents.push(agent);
      await waitForOutput(agent, /connected as node/, 60_000);
    }
    await page.waitForFunction(() => Number(document.getElementById('job-progress-text')!.textContent!.split(' ')[0]) > 0, null, { timeout: 60_000 });
    await page.screenshot({ path: join(artifactsDir, 'portal-job-mid-run.png'), fullPage: true });
    await page.waitForFunction(() => document.getElementById('job-state')!.textContent === 'done', null, { timeout: 120_000 });
    await page.waitForSelector('#result:not([hidden])');
    expect(await page.locator('#grid span.verified').count()).toBe(16);
    expect(await page.textContent('#verification-facts')).toMatch(/^check: 16 executions for 16 units, 16 valid, 0 wrong/);
    expect(Number((await page.textContent('#cost'))!.split(' ')[0]!.replaceAll(',', ''))).toBeGreaterThan(0);
    // The heatmap shows the product: not one flat colour.
    await page.waitForFunction(() => document.getElementById('result-size')?.textContent?.startsWith('512×512'));
    const colours = await page.evaluate(() => {
      const c = document.getElementById('heatmap') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      return new Set(Array.from({ length: d.length / 4 }, (_, i) => d[i * 4]! * 65536 + d[i * 4 + 1]! * 256 + d[i * 4 + 2]!)).size;
    });
    expect(colours).toBeGreaterThan(100);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expectClose(parseNpy(readFileSync((await download.path())!)), matmulReference(a, b), 384);

    // The dashboard lists it, done; the credit history shows what it cost, on one line.
    await page.goto(`${coordinator.url}/portal#/`);
    // The dashboard drawn (data-route is set once a route has drawn, an error too), then its table:
    // a failure says which of the two did not come, and what the page said instead.
    await page.waitForSelector('#view[data-route="dashboard"]');
    expect(await page.locator('#jobs').count(), (await page.textContent('#view')) ?? '').toBe(1);
    expect(await page.textContent('#jobs')).toMatch(new RegExp(`${jobId.slice(0, 8)}matmuldone`));
    // Amounts read at a glance (1 credit = 1 GFLOP): the 0.2-GFLOP job cost a fraction of a credit and the balance moved.
    expect(await page.textContent('#balance')).toMatch(/^99,99\d\.\d\d$/);
    expect(await page.textContent('#jobs')).toMatch(/done0\.\d{1,2}\d?\d/);
    expect(await page.textContent('#credit-meaning')).toMatch(/^1 credit buys 1 GFLOP/);
    await page.goto(`${coordinator.url}/portal#/credits`);
    await page.waitForSelector('#history');
    expect(await page.textContent('#history')).toContain(`Your job matmul ${jobId.slice(0, 8)}`);
    // Usage: a pair of bars a day for 30 days, today's spending drawn, the month's totals said.
    expect(await page.locator('#usage-chart rect').count()).toBe(60);
    expect(Number(await page.locator('#usage-chart rect.a').last().getAttribute('height'))).toBeGreaterThan(0);
    expect(await page.textContent('#usage-totals')).toMatch(/^in 30 days: 1 job, 0\.\d+ credits spent; 0 units verified, 0 credits earned$/);
    await page.screenshot({ path: join(artifactsDir, 'portal-credits-after-job.png'), fullPage: true });
    // A site for the widget: a bad origin is refused with the reason; a good one gets a key and its tag.
    await page.goto(`${coordinator.url}/portal#/sites`);
    await page.fill('#site-name', 'Recipes');
    await page.fill('#site-origins', 'https://recipes.example/with-a-path');
    await page.click('#new-site button');
    await page.waitForFunction(() => /an origin/.test(document.getElementById('site-error')!.textContent!));
    await page.fill('#site-origins', 'https://recipes.example https://www.recipes.example');
    await page.click('#new-site button');
    await page.waitForSelector('#sites code.embed');
    expect(await page.textContent('#sites code.embed')).toMatch(new RegExp(`^<script src="${coordinator.url}/widget\\.js" data-site="site_[\\w-]+" async></script>$`));
    expect(errors).toEqual([]);
  });
});
