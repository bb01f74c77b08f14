import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { chromiumWebGpuArgs } from '../../bench/chromium.ts';
import { inject } from 'vitest';
import type { NodeSnapshot } from '../../web/node/browser-node.ts';
import { repoRoot } from './coordinator.ts';

/** The pages built once by tests/global-setup.ts. */
export const webDir = () => inject('webDir');

export const artifactsDir = join(repoRoot, 'test-results');

/**
 * Keeps each long task (over 50 ms on the main thread) the page has, from its first moment, and
 * counts the GPU adapters the main thread asks for: the node's GPU belongs to its worker, whose
 * own `navigator.gpu` this script (run in the page, not in workers) does not touch.
 */
const watchMainThread = () => {
  const w = window as unknown as { longTasks: { start: number; duration: number }[]; mainThreadAdapters: number };
  w.longTasks = [];
  w.mainThreadAdapters = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) w.longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  const gpu = navigator.gpu;
  if (gpu) {
    const requestAdapter = gpu.requestAdapter.bind(gpu);
    gpu.requestAdapter = (options) => {
      w.mainThreadAdapters++;
      return requestAdapter(options);
    };
  }
};

export interface ContributePage {
  context: BrowserContext;
  page: Page;
  errors: string[];
}

/** A fresh browser profile on the contribute page; signed up through the page's form when `email` is given. */
export async function openContributePage(browser: Browser, url: string, opts: { email?: string; init?: () => void } = {}): Promise<ContributePage> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.addInitScript(watchMainThread);
  if (opts.init) await page.addInitScript(opts.init);
  await page.goto(url);
  await page.waitForFunction(() => (window as any).supernet); // the page's module has run (it awaits /api/me first)
  if (opts.email) {
    await page.fill('#email', opts.email);
    await page.fill('#password', 'correct horse battery');
    await page.click('#signup-button');
    await page.waitForSelector('#signed-in:not([hidden])');
  }
  return { context, page, errors };
}

export const snapshot = (page: Page): Promise<NodeSnapshot> => page.evaluate(() => (window as any).supernet.node.snapshot);

/** Polls the page's node until `check` holds. */
export async function until(page: Page, what: string, check: (s: NodeSnapshot) => boolean, timeoutMs = 60_000): Promise<NodeSnapshot> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await snapshot(page);
    if (check(s)) return s;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify({ ...s, throughput: s.throughput.length })}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The node's runtime events since `since` (page clock), by type. */
export const eventsSince = (page: Page, since: number): Promise<{ at: number; event: { type: string; attemptId?: string; ok?: boolean; reason?: string } }[]> =>
  page.evaluate((t) => (window as any).supernet.node.events.filter((e: { at: number }) => e.at >= t), since);

/** Figures measured by the browser tests, for the README and the closing note. */
export function reportFigures(name: string, figures: Record<string, unknown>) {
  mkdirSync(artifactsDir, { recursive: true });
  writeFileSync(join(artifactsDir, `${name}.json`), JSON.stringify(figures, null, 2) + '\n');
  console.log(`[figures] ${name}: ${JSON.stringify(figures)}`);
}

/** The same Chromium with WebGPU off (no flags, no GPU): a browser like many still in use. */
export function launchChromiumWithoutWebGpu(): Promise<Browser> {
  const args = chromiumWebGpuArgs.filter((a) => !/webgpu|vulkan|angle/i.test(a));
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: [...args, '--disable-gpu'] });
}

/** Signs a new account up through the portal's own form, as a person does; resolves once the portal shows. */
export async function signUpInPortal(page: Page, url: string, email: string) {
  await page.goto(`${url}/portal`);
  await page.fill('#email', email);
  await page.fill('#password', 'correct horse battery');
  await page.click('#signup-button');
  await page.waitForSelector('#app:not([hidden])');
}
