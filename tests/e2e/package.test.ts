import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from '@playwright/test';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/chromium.ts';
import { reportFigures } from '../helpers/browser.ts';
import { TestClient } from '../helpers/client.ts';
import { freePort, repoRoot, stopChild, waitForOutput } from '../helpers/coordinator.ts';

const exec = promisify(execFile);

/**
 * Supernet as people install it (#20): the project packed with `npm pack`, installed into an
 * empty project without dev dependencies, and used from there in plain Node 20 — no loader, no
 * TypeScript, no source: the coordinator (`npx supernet serve`, with its pages), an agent
 * (`npx supernet agent`) that completes units, and the client (`import { Supernet } from
 * 'supernet'`, and `@supernet/client` alone) running a job from typed arrays; the client bundled
 * by vite for a browser makes a call in Chromium.
 */
describe('the packages, installed', () => {
  let project: string;
  let tarballs: { supernet: string; client: string };
  const children: ChildProcess[] = [];
  let browser: Browser | undefined;

  beforeAll(async () => {
    // Built and packed from a copy of the checkout, as `npm publish` would from a fresh clone:
    // the repository's own dist/web is rebuilt by another test (`npm start`) meanwhile.
    const stage = mkdtempSync(join(tmpdir(), 'supernet-stage-'));
    for (const file of (await exec('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, maxBuffer: 1 << 24 })).stdout.split('\n')) {
      if (!file || !existsSync(join(repoRoot, file))) continue;
      mkdirSync(dirname(join(stage, file)), { recursive: true });
      copyFileSync(join(repoRoot, file), join(stage, file));
    }
    symlinkSync(join(repoRoot, 'node_modules'), join(stage, 'node_modules'));
    await exec('npm', ['run', 'prepack'], { cwd: stage, maxBuffer: 1 << 24 });
    const packDir = mkdtempSync(join(tmpdir(), 'supernet-pack-'));
    const pack = async (dir: string) => JSON.parse((await exec('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], { cwd: dir })).stdout)[0] as { filename: string; size: number; unpackedSize: number; entryCount: number; files: { path: string }[] };
    const [main, client] = [await pack(stage), await pack(join(stage, 'packages/client'))];
    // Nothing a user does not need: no source, tests, benches or pages' sources.
    const paths = main.files.map((f) => f.path);
    expect(paths.filter((p) => /^(server|tests|bench|web|workloads|shaders)\//.test(p) || p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
    expect(paths).toContain('dist/web/index.html');
    reportFigures('package', {
      supernet: { tarballBytes: main.size, unpackedBytes: main.unpackedSize, files: main.entryCount },
      client: { tarballBytes: client.size, unpackedBytes: client.unpackedSize, files: client.entryCount },
    });
    tarballs = { supernet: join(packDir, main.filename), client: join(packDir, client.filename) };
    project = mkdtempSync(join(tmpdir(), 'supernet-user-'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-project', version: '1.0.0', type: 'module', private: true }));
    // The dependencies come from the npm cache `npm ci` filled (offline first), as a user's would from the registry.
    await exec('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarballs.supernet, tarballs.client], { cwd: project, maxBuffer: 1 << 24 });
    // What runs the source here (tsx, vite) and the pages' own libraries (prebuilt into dist/web) stay out.
    for (const dev of ['tsx', 'vite', 'typescript', 'codemirror', 'dexie', 'vitest']) expect(existsSync(join(project, 'node_modules', dev)), dev).toBe(false);
  }, 600_000);

  afterAll(async () => {
    for (const child of children) await stopChild(child);
    await browser?.close();
  });

  /** `npx supernet …` in the user's project, with the machine's environment and nothing of ours. */
  function npx(args: string[], env: Record<string, string> = {}) {
    const child = spawn('npx', ['--no-install', 'supernet', ...args], { cwd: project, env: { ...process.env, XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'supernet-home-')), ...env }, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { output: string[] };
    child.output = [];
    child.stdout!.on('data', (d) => child.output.push(String(d)));
    child.stderr!.on('data', (d) => child.output.push(String(d)));
    children.push(child);
    return child;
  }

  it('serves, works and answers from the installed package in plain Node: the coordinator, an agent, the client, --help', async () => {
    const help = await exec('npx', ['--no-install', 'supernet', '--help'], { cwd: project });
    expect(help.stdout).toMatch(/^supernet — a volunteer GPU compute network/);

    const port = await freePort();
    const serve = npx(['serve'], { PORT: String(port), SUPERNET_DATA: mkdtempSync(join(tmpdir(), 'supernet-installed-data-')) });
    await waitForOutput(serve, /Supernet coordinator on (\S+)/, 60_000);
    const url = `http://localhost:${port}`;
    // Its pages came with it.
    expect(await (await fetch(`${url}/`)).text()).toContain('<title>');
    const volunteer = await TestClient.signup(url, 'installed-volunteer@example.com');
    const agent = npx(['agent', '--url', url, '--key', await volunteer.useNewKey('agent')]);
    await waitForOutput(agent, /connected as node/, 120_000);

    const dev = await TestClient.signup(url, 'installed-dev@example.com');
    const key = await dev.useNewKey('script');
    // A user's script: the client from the package, a job from typed arrays, C compared with the CPU.
    writeFileSync(
      join(project, 'product.mjs'),
      `import { Supernet, SupernetError } from 'supernet';
import { Supernet as Alone } from '@supernet/client';
const [m, k, n] = [48, 40, 56];
const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
const api = new Supernet({ url: process.argv[2], key: process.argv[3] });
const seen = [];
const c = await api.matmul(a, b, { m, k, n }, { tile: 16, onProgress: (job) => seen.push(job.progress.verified) });
let worst = 0;
for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
  let sum = 0;
  for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
  worst = Math.max(worst, Math.abs(sum - c[i * n + j]));
}
let refused;
try { await new Alone({ url: process.argv[2], key: 'sn_wrong' }).me(); } catch (err) { refused = { status: err.status, code: err.code, isError: err instanceof Error }; }
console.log(JSON.stringify({ length: c.length, worst, updates: seen.length, last: seen.at(-1), refused, typedError: typeof SupernetError }));
`,
    );
    const { stdout } = await exec(process.execPath, ['product.mjs', url, key], { cwd: project });
    const out = JSON.parse(stdout);
    expect(out).toMatchObject({ length: 48 * 56, last: 12, refused: { status: 401, code: 'unauthorized', isError: true }, typedError: 'function' });
    expect(out.worst).toBeLessThan(1e-3);
    expect(agent.output.join('')).toMatch(/SwiftShader|Vulkan|WebGPU adapter|GFLOP\/s/i);
  }, 300_000);

  it('bundles for a browser with vite, and the bundle makes a call in Chromium', async () => {
    writeFileSync(join(project, 'entry.js'), `import { Supernet } from '@supernet/client';\nwindow.called = new Supernet().health();\n`);
    const outDir = join(project, 'bundle');
    await build({ root: project, configFile: false, logLevel: 'warn', build: { outDir, lib: { entry: join(project, 'entry.js'), formats: ['es'], fileName: 'bundle' }, emptyOutDir: true } });
    const bundle = readFileSync(join(outDir, 'bundle.js'), 'utf8');
    expect(statSync(join(outDir, 'bundle.js')).size).toBeLessThan(400_000);
    const port = await freePort();
    const serve = npx(['serve'], { PORT: String(port), SUPERNET_DATA: mkdtempSync(join(tmpdir(), 'supernet-installed-data-')) });
    await waitForOutput(serve, /Supernet coordinator on/, 60_000);
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(`http://localhost:${port}/network`);
    await page.addScriptTag({ content: bundle, type: 'module' });
    await page.waitForFunction(() => 'called' in window); // a module script runs after it is added
    const health = await page.evaluate(() => (window as unknown as { called: Promise<unknown> }).called);
    expect(health).toMatchObject({ ok: true });
  }, 180_000);
});
