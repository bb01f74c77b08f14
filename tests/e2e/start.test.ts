import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/chromium.ts';
import { repoRoot, spawnCli, stopChild, waitForOutput } from '../helpers/coordinator.ts';

describe("the README's start command", () => {
  it('npm start builds the pages and serves them with the API on the embedded store', async () => {
    const child = spawn('npm', ['start'], {
      cwd: repoRoot,
      env: { ...process.env, PORT: '0', SUPERNET_DATA: mkdtempSync(join(tmpdir(), 'supernet-start-')) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so npm and the coordinator stop together
    }) as ReturnType<typeof spawnCli>;
    child.output = [];
    child.stdout!.on('data', (d) => child.output.push(String(d)));
    child.stderr!.on('data', (d) => child.output.push(String(d)));
    try {
      const [, url] = await waitForOutput(child, /coordinator on (http:\S+) \(store: PGlite/, 60_000);
      expect(await (await fetch(`${url}/api/health`)).json()).toMatchObject({ ok: true });
      const home = await (await fetch(`${url}/`)).text();
      expect(home).toContain('<h1>Supernet</h1>');
      // In a browser: the contribute page at /, and the network page with the price of compute and its history.
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        await page.goto(url!);
        expect(await page.textContent('#start')).toBe('Start');
        await page.goto(`${url}/network`);
        await page.waitForFunction(() => document.getElementById('price')?.textContent !== '–');
        expect(Number(await page.textContent('#price'))).toBeGreaterThan(0);
        expect(await page.getAttribute('#price-chart path.line', 'd')).toMatch(/^M[\d.]+,[\d.]+/);
      } finally {
        await browser.close();
      }
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
    }
  });

  it('stops at once, with one sentence and exit code 2, on bad configuration', async () => {
    const child = spawnCli(['serve'], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(child.output.join('')).toMatch(/^supernet: Cannot reach PostgreSQL at DATABASE_URL .*unset DATABASE_URL to use the embedded store\.\n$/);
    await stopChild(child);
  });
});
