import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from '@playwright/test';
import { createServer, type ViteDevServer } from 'vite';

const repoRoot = resolve(import.meta.dirname, '..');

/**
 * Debian's Chromium with WebGPU on SwiftShader (never a downloaded browser). The network
 * flags keep Chromium from calling out: this machine's closed network refuses it.
 */
export const chromiumWebGpuArgs = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--use-angle=swiftshader',
  '--no-sandbox',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // WebRTC host candidates as plain addresses, not mDNS names that no resolver here answers:
  // browser nodes on one machine reach each other (blobs peer to peer, #18).
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: chromiumWebGpuArgs });
}

export interface BenchPage {
  page: Page;
  close(): Promise<void>;
}

/** Serves bench/page with vite on 127.0.0.1 (WebGPU needs a secure context) and opens it. */
export async function openBenchPage(): Promise<BenchPage> {
  const vite: ViteDevServer = await createServer({
    root: resolve(repoRoot, 'bench/page'),
    configFile: false,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, fs: { allow: [repoRoot] } },
  });
  await vite.listen();
  const browser = await launchChromium();
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(vite.resolvedUrls!.local[0]!);
  await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('ready'), null, { timeout: 120_000 }).catch((err) => {
    throw new Error(`the bench page did not get ready: ${errors.join('; ') || err.message}`);
  });
  return {
    page,
    async close() {
      await browser.close();
      await vite.close();
    },
  };
}
