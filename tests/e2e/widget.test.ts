import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { Browser, Page } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Supernet } from '../../server/api/client.ts';
import { launchChromium } from '../../bench/chromium.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { artifactsDir, webDir } from '../helpers/browser.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, testCoordinator } from '../helpers/coordinator.ts';

/** A host site on its own origin: http://127.0.0.1:PORT, another site than the coordinator (http://localhost:PORT). */
async function hostSite(pages: Record<string, string>): Promise<{ origin: string; server: Server }> {
  const server = createServer((req, res) => {
    const html = pages[req.url ?? '/'];
    res.writeHead(html ? 200 : 404, { 'content-type': 'text/html' }).end(html ?? 'no such page');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

/** The host page's own script: it records the widget's events, as a site owner's code would. */
const recorder = `<script>
  window.widgetEvents = [];
  for (const type of ['ready', 'started', 'stopped', 'progress', 'refused'])
    document.addEventListener('supernet:' + type, (e) => window.widgetEvents.push({ type, detail: e.detail }));
</script>`;

describe('the embeddable widget', () => {
  let coordinator: Coordinator;
  let browser: Browser;
  const servers: Server[] = [];
  let owner: Supernet;
  let siteKey = '';
  let allowed = '';
  let other = '';

  beforeAll(async () => {
    coordinator = await testCoordinator('pglite', { SUPERNET_WEB_DIR: webDir(), SUPERNET_LEASE_TTL_MS: '60000' });
    browser = await launchChromium();
    const a = await hostSite({});
    const b = await hostSite({});
    servers.push(a.server, b.server);
    [allowed, other] = [a.origin, b.origin];
    const client = await TestClient.signup(coordinator.url, 'site-owner@example.com');
    owner = new Supernet({ url: coordinator.url, key: await client.useNewKey() });
    const site = await owner.createSite({ name: 'Recipes', origins: [allowed], throttle: 0.6 });
    siteKey = site.key;
    const page = `<!doctype html><html><body><h1>Recipes</h1>${recorder}${site.embed}</body></html>`;
    const element = `<!doctype html><html><body>${recorder}<script src="${coordinator.url}/widget.js" async></script><supernet-widget site="${site.key}"></supernet-widget></body></html>`;
    for (const [origin, server] of [[a.origin, a.server], [b.origin, b.server]] as const) {
      server.removeAllListeners('request');
      server.on('request', (req, res) => {
        const html = req.url === '/' ? page : req.url === '/element' ? element : null;
        res.writeHead(html ? 200 : 404, { 'content-type': 'text/html' }).end(html ?? 'no');
      });
      void origin;
    }
  });
  afterAll(async () => {
    await browser?.close();
    for (const s of servers) s.close();
    await coordinator?.close();
  });

  const events = (page: Page) => page.evaluate(() => (window as any).widgetEvents as { type: string; detail: Record<string, unknown> }[]);
  const nodeCount = async () => (await coordinator.deps.db.selectFrom('nodes').select('id').execute()).length;

  it('runs only after a click inside it, earns for the site owner, tells the host page; the host page cannot start it', async () => {
    const dev = await TestClient.signup(coordinator.url, 'widget-dev@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 1024, k: 512, n: 1024, seed: 71 }, tile: 256 } }, 201);
    const page = await (await browser.newContext()).newPage();
    const consoled: string[] = [];
    page.on('console', (m) => consoled.push(m.text()));
    await page.goto(`${allowed}/`);
    await eventually(async () => (await events(page)).some((e) => e.type === 'ready'), 'the widget to be ready', 15_000).catch(async (err) => {
      throw new Error(`${err.message}: STATUS=${await page.frameLocator('iframe').locator('#status').textContent()} frames=${page.frames().map((f) => f.url()).join(' ')} html=${(await page.content()).slice(0, 600)}`);
    });
    const frame = page.frameLocator('iframe');
    expect(await frame.locator('#site-name').textContent()).toBe('Recipes');
    // The slider runs to what the site allows: its knob and its label say the same.
    expect(await frame.locator('#throttle-value').textContent()).toBe('60% (this site allows up to 60%)');
    expect(await frame.locator('#throttle').evaluate((el: HTMLInputElement) => [el.max, el.value])).toEqual(['60', '60']);
    // Every control shows: the iframe takes the widget's height.
    await eventually(async () => {
      const inside = await frame.locator('body').evaluate(() => ['#toggle', '#background', '#learn', '#throttle', '#status'].every((s) => document.querySelector(s)!.getBoundingClientRect().bottom <= window.innerHeight));
      return inside;
    }, 'every control inside the frame', 10_000);
    expect(consoled.filter((m) => /Unrecognized feature/.test(m))).toEqual([]);
    // The visitor may choose less than the site allows, and the label follows the knob.
    await frame.locator('#throttle').evaluate((el: HTMLInputElement) => {
      el.value = '30';
      el.dispatchEvent(new Event('input'));
    });
    expect(await frame.locator('#throttle-value').textContent()).toBe('30% (this site allows up to 60%)');

    // Nothing runs before the click: no node connected. The host page's script can ask, not act.
    await page.evaluate(() => {
      const iframe = document.querySelector('iframe')!;
      iframe.contentWindow!.postMessage({ type: 'start' }, '*');
      iframe.contentWindow!.postMessage({ source: 'supernet-widget', type: 'start' }, '*');
      (window as any).sawDocument = (() => { try { return !!iframe.contentDocument; } catch { return false; } })();
    });
    await page.waitForTimeout(2500);
    expect(await nodeCount()).toBe(0);
    expect(await page.evaluate(() => (window as any).sawDocument)).toBe(false);
    // A look-alike sender is ignored: events reach the page only from the iframe, from exactly our origin.
    await page.evaluate((coord) => {
      const iframe = document.querySelector('iframe')!;
      const forged = { source: 'supernet-widget', type: 'started' };
      window.dispatchEvent(new MessageEvent('message', { origin: `${coord}.evil.test`, data: forged, source: iframe.contentWindow }));
      window.dispatchEvent(new MessageEvent('message', { origin: coord, data: forged, source: window }));
    }, coordinator.url);
    expect((await events(page)).map((e) => e.type)).toEqual(['ready']);

    await frame.locator('#toggle').click();
    await eventually(async () => (await events(page)).some((e) => e.type === 'started'), 'started', 30_000).catch(async (err) => {
      throw new Error(`${err.message}: ${await frame.locator('#status').textContent()} ${JSON.stringify(await events(page))}`);
    });
    const progress = await eventually(async () => (await events(page)).find((e) => e.type === 'progress' && (e.detail.credits as number) > 0), 'progress with credits', 60_000).catch(async (err) => {
      throw new Error(`${err.message}: ${await frame.locator('#status').textContent()} ${await frame.locator('#figures').textContent()} ${JSON.stringify(await events(page))}`);
    });
    expect(progress.detail).toMatchObject({ site: siteKey, units: expect.any(Number) });
    // Amounts as the ledger counts them, whole µcr: no float noise such as 0.00023799999999999998.
    expect(String(progress.detail.credits)).toMatch(/^\d+(\.\d{1,6})?$/);
    await page.screenshot({ path: join(artifactsDir, 'widget-on-host-page.png') });
    const me = await owner.me();
    expect(me.wallet.earned).toBeGreaterThan(0); // the site owner's balance grows
    const [site] = (await owner.listSites()).sites;
    expect(site).toMatchObject({ nodes: 1 });
    // Stop: the host hears it.
    await frame.locator('#toggle').click();
    await eventually(async () => (await events(page)).some((e) => e.type === 'stopped'), 'stopped', 30_000);
    // Clean up: the job may have finished meanwhile (one node can do all 16 units on a quiet machine).
    const cancel = await dev.call('DELETE', `/api/jobs/${job.id}`);
    expect([200, 409]).toContain(cancel.status);
  }, 150_000);

  it('is refused where the site does not allow it: frame-ancestors from the site, and the iframe will not run', async () => {
    const res = await fetch(`${coordinator.url}/widget.html?site=${siteKey}`);
    expect(res.headers.get('content-security-policy')).toBe(`frame-ancestors ${allowed}`);
    expect((await fetch(`${coordinator.url}/widget.html?site=site_nope`)).headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${other}/`);
    await page.waitForTimeout(2500);
    const widget = page.frames().find((f) => f.url().includes('/widget.html'));
    expect(await widget?.$('#toggle').catch(() => null) ?? null).toBeNull(); // the browser did not render it
    expect((await events(page)).map((e) => e.type)).toEqual([]);
  });

  it('works as a custom element too', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${allowed}/element`);
    await eventually(async () => (await events(page)).some((e) => e.type === 'ready'), 'the element to be ready', 30_000);
    expect(await page.frameLocator('supernet-widget iframe').locator('#toggle').textContent()).toBe('Start');
  });
});
