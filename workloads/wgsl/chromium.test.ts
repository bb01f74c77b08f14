import { join } from 'node:path';
import type { Browser } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../bench/chromium.ts';
import type { Coordinator } from '../../server/coordinator.ts';
import { encodeNpyArray, parseNpyArray } from '../../shaders/npy.ts';
import { artifactsDir, openContributePage, webDir, signUpInPortal } from '../../tests/helpers/browser.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { eventually, testCoordinator } from '../../tests/helpers/coordinator.ts';
import { endless, mandelbrot, mandelbrotReference, mandelbrotSize, saxpy } from './examples.ts';

const npy = (data: Float32Array) => encodeNpyArray({ shape: [data.length], element: 'f32', bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });

/** Developers' kernels on two Chromium tabs (WebGPU on SwiftShader), and the portal's editor. */
describe('wgsl in Chromium', () => {
  let coordinator: Coordinator;
  let browser: Browser;
  let dev: TestClient;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite', { SUPERNET_WEB_DIR: webDir() });
    browser = await launchChromium();
    dev = await TestClient.signup(coordinator.url, 'wgsl-chromium@example.com');
    await dev.useNewKey();
  });
  afterAll(async () => {
    await browser?.close();
    await coordinator?.close();
  });

  const result = async (id: string) => parseNpyArray(new Uint8Array(await (await dev.call('GET', `/api/jobs/${id}/result`)).arrayBuffer()));
  const validBy = async (jobId: string) =>
    (await coordinator.deps.db.selectFrom('attempts').innerJoin('units', 'units.id', 'attempts.unit_id').select(['attempts.node_id', 'attempts.state', 'attempts.error', 'units.idx']).where('units.job_id', '=', jobId).execute());

  it('two tabs run SAXPY over 1,000,000 elements and an integer Mandelbrot; an endless loop fails its unit in each tab, and both go on', async () => {
    const tabs = [await openContributePage(browser, coordinator.url, { email: 'wgsl-tab1@example.com' }), await openContributePage(browser, coordinator.url, { email: 'wgsl-tab2@example.com' })];
    await Promise.all(tabs.map((t) => t.page.click('#start')));
    const n = 1_000_000;
    const x = Float32Array.from({ length: n }, (_, i) => Math.cos(i)), y = Float32Array.from({ length: n }, (_, i) => i % 7);
    const saxpyJob = await dev.json('POST', '/api/jobs', { kind: 'wgsl', spec: { source: saxpy, inputs: [{ blob: await dev.upload(npy(x)) }, { blob: await dev.upload(npy(y)) }], output: { element: 'f32', length: n }, units: 8, flopsPerElement: 2 } }, 201);
    expect(await dev.waitForJob(saxpyJob.id, 300_000)).toMatchObject({ state: 'done' });
    const out = await result(saxpyJob.id);
    const got = new Float32Array(out.bytes.buffer, out.bytes.byteOffset, n);
    for (let i = 0; i < n; i += 997) expect(Math.abs(got[i]! - (2.5 * x[i]! + y[i]!))).toBeLessThan(1e-5);

    const m = await dev.json('POST', '/api/jobs', { kind: 'wgsl', spec: { source: mandelbrot, output: { element: 'u32', length: mandelbrotSize.width * mandelbrotSize.height }, units: 8, flopsPerElement: 2000, loopBudget: 1000 } }, 201);
    expect(await dev.waitForJob(m.id, 300_000)).toMatchObject({ state: 'done' });
    const counts = await result(m.id);
    const iterations = new Uint32Array(counts.bytes.buffer, counts.bytes.byteOffset, counts.bytes.byteLength / 4);
    const want = mandelbrotReference();
    expect(iterations.filter((c, i) => c !== want[i]).length / want.length).toBeLessThan(0.01);

    const spin = await dev.json('POST', '/api/jobs', { kind: 'wgsl', spec: { source: endless, output: { element: 'u32', length: 200 }, units: 2, loopBudget: 5000 } }, 201);
    const failed = await eventually(async () => {
      const rows = (await validBy(spin.id)).filter((a) => a.state === 'failed');
      return new Set(rows.map((r) => r.node_id)).size === 2 && rows;
    }, 'the endless unit failed in both tabs', 120_000);
    expect(failed.every((f) => f.idx === 1 && /ran past its loop budget \(5000 iterations an invocation/.test(f.error!))).toBe(true);
    await dev.json('DELETE', `/api/jobs/${spin.id}`);
    const next = await dev.json('POST', '/api/jobs', { kind: 'wgsl', spec: { source: saxpy, inputs: [{ blob: await dev.upload(npy(x.subarray(0, 8192))) }, { blob: await dev.upload(npy(y.subarray(0, 8192))) }], output: { element: 'f32', length: 8192 }, units: 2 } }, 201);
    expect(await dev.waitForJob(next.id, 120_000)).toMatchObject({ state: 'done' });
    const after = (await validBy(next.id)).filter((a) => a.state === 'valid');
    expect(new Set(after.map((a) => a.node_id))).toEqual(new Set(failed.map((f) => f.node_id)));
    expect(tabs.flatMap((t) => t.errors)).toEqual([]);
  }, 600_000);

  it("the portal's editor marks the compiler's error at its line", async () => {
    const page = await browser.newPage();
    await signUpInPortal(page, coordinator.url, 'wgsl-portal@example.com');
    await page.goto(`${coordinator.url}/portal#/new`);
    await page.selectOption('#kind', 'wgsl');
    await page.waitForFunction(() => /^8 units/.test(document.getElementById('estimate')!.textContent!));
    // Break line 19 (`n++;` → `n+++;`) as a person would, in the editor (loaded with the form).
    await page.waitForSelector('.cm-editor');
    await page.evaluate(() => {
      const view = (document.getElementById('inputs') as HTMLElement & { editor: import('@codemirror/view').EditorView }).editor;
      const line = view.state.doc.line(19);
      view.dispatch({ changes: { from: line.from, to: line.to, insert: line.text.replace('n++;', 'n+++;') } });
    });
    await page.waitForFunction(() => /spec\.source does not compile: line 19, column \d+/.test(document.getElementById('estimate')!.textContent!));
    await page.waitForSelector('.cm-lintRange-error');
    expect(await page.$$eval('.cm-gutterElement .cm-lint-marker-error', (m) => m.length)).toBe(1);
    await page.screenshot({ path: join(artifactsDir, 'wgsl-editor-error.png'), fullPage: true });
    expect(await page.isDisabled('#submit')).toBe(false); // the server refuses a submit and says why; the button does not guess
  });
});
