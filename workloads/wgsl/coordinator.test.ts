import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { encodeNpyArray } from '../../shaders/npy.ts';
import { TestClient } from '../../tests/helpers/client.ts';
import { runCli, testCoordinator } from '../../tests/helpers/coordinator.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mandelbrot, saxpy } from './examples.ts';
import { checkKernel, instrument } from './kernel.ts';

const f32s = (n: number, seed: number) => encodeNpyArray({ shape: [n], element: 'f32', bytes: new Uint8Array(Float32Array.from({ length: n }, (_, i) => ((i * seed) % 97) / 7).buffer) });

describe('wgsl: reading a kernel', () => {
  it('finds its workgroup size and loops, and says which binding does not fit the spec', () => {
    expect(checkKernel(saxpy, 'main', ['f32', 'f32'], 'f32')).toEqual({ shape: { workgroupSize: 64, hasLoops: false }, problems: [] });
    expect(checkKernel(mandelbrot, 'main', [], 'u32').shape).toEqual({ workgroupSize: 64, hasLoops: true });
    expect(checkKernel(saxpy, 'main', ['f32', 'i32'], 'f32').problems).toEqual(['binding 1 (y) is array<f32>, but spec.inputs[1] is i32']);
    expect(checkKernel(saxpy, 'main', ['f32'], 'f32').problems).toEqual([
      'binding 3 (range) is past the last one the spec gives (inputs at 0-0, the output at 1, the range at 2)',
      'binding 1 (y) is read; the output is var<storage, read_write>',
      'binding 2 (out) must be var<uniform> of a struct of three u32 (first, begin, end)',
    ]);
    expect(checkKernel(saxpy, 'run', ['f32', 'f32'], 'f32').problems).toEqual(['no @compute function is named run (there is main)']);
    expect(checkKernel(saxpy.replace('@workgroup_size(64)', '@workgroup_size(8, 8)'), 'main', ['f32', 'f32'], 'f32').problems).toEqual(['@workgroup_size of main must be one whole number from 1 to 256 (kernels here are one-dimensional)']);
  });

  it('counts every loop, moves the range past the status word, and keeps the lines where they were', () => {
    const code = instrument(mandelbrot, 'main', 0, 500);
    expect(code.split('\n').slice(0, mandelbrot.split('\n').length - 1)).toHaveLength(mandelbrot.split('\n').length - 1);
    const lines = code.split('\n');
    mandelbrot.split('\n').forEach((line, i) => {
      if (!line.includes('while') && !line.includes('fn main') && !line.includes('@binding(1)')) expect(lines[i]).toBe(line);
    });
    expect(lines.find((l) => l.includes('while'))).toContain('{ if (_sn_spin()) { break; }');
    expect(code).toContain('@group(0) @binding(2) var<uniform> range: Range;');
    expect(code).toContain('@group(0) @binding(1) var<storage, read_write> _sn_status: atomic<u32>;');
    expect(code).toContain('if (_sn_spins > 500u)');
  });
});

describe('wgsl jobs through the API: refused at submission', () => {
  let coordinator: Coordinator;
  let dev: TestClient;
  let x: string, y: string;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
    dev = await TestClient.signup(coordinator.url, 'wgsl-dev@example.com');
    await dev.useNewKey();
    [x, y] = [await dev.upload(f32s(1000, 3)), await dev.upload(f32s(1000, 5))];
  });
  afterAll(() => coordinator?.close());

  const submit = (spec: Record<string, unknown>) => dev.call('POST', '/api/jobs', { kind: 'wgsl', spec: { output: { element: 'f32', length: 1000 }, units: 2, ...spec } });

  it('accepts a kernel that fits, replicated by default', async () => {
    const res = await dev.json('POST', '/api/jobs/estimate', { kind: 'wgsl', spec: { source: saxpy, inputs: [{ blob: x }, { blob: y }], output: { element: 'f32', length: 1000 }, units: 4 } });
    expect(res).toMatchObject({ units: 4, verification: 'replicate' });
    const check = await dev.call('POST', '/api/jobs/estimate', { kind: 'wgsl', verification: 'check', spec: { source: saxpy, inputs: [{ blob: x }, { blob: y }], output: { element: 'f32', length: 1000 } } });
    expect((await check.json()).error.message).toBe('wgsl has no cheap check: use "verification": "replicate".');
  });

  it("gives the compiler's line and column for a syntax error and for a type error", async () => {
    const syntax = saxpy.replace('out[i] = a * x[g] + y[g];', 'out[i] = a * x[g] + ;');
    const typed = saxpy.replace('out[i] = a * x[g] + y[g];', 'out[i] = a * x[g] + g;');
    for (const [source, line] of [[syntax, 15], [typed, 15]] as const) {
      const res = await submit({ source, inputs: [{ blob: x }, { blob: y }] });
      expect(res.status).toBe(400);
      const { error } = await res.json();
      expect(error.code).toBe('wgsl_compile');
      expect(error.message).toMatch(new RegExp(`^spec\\.source does not compile: line ${line}, column \\d+: `));
      expect(error.details[0]).toMatchObject({ line });
      expect(error.details[0].column).toBeGreaterThan(1);
    }
  });

  it('names a binding that does not match the spec', async () => {
    const res = await submit({ source: saxpy, inputs: [{ blob: x }, { blob: await dev.upload(encodeNpyArray({ shape: [4], element: 'i32', bytes: new Uint8Array(16) })) }] });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toBe("spec.source does not fit the spec: binding 1 (y) is array<f32>, but spec.inputs[1] is i32.");
    const raw = await submit({ source: saxpy, inputs: [{ blob: x }, { blob: await dev.upload(new Uint8Array(12)) }] });
    expect((await raw.json()).error.message).toBe('spec.inputs[1]: a raw file needs "element" (f32, i32 or u32); or upload a .npy.');
  });

  it('refuses a kernel over the limits, naming the limit', async () => {
    const big = await submit({ source: saxpy, inputs: [{ blob: x }, { blob: y }], output: { element: 'f32', length: 20_000_000 } });
    expect((await big.json()).error.message).toMatch(/output\.length/);
    const wide = await submit({ source: saxpy.replace('@workgroup_size(64)', '@workgroup_size(512)'), inputs: [{ blob: x }, { blob: y }] });
    expect((await wide.json()).error.message).toMatch(/^spec\.source does not fit the spec: @workgroup_size of main must be one whole number from 1 to 256/);
    const long = await submit({ source: mandelbrot, output: { element: 'u32', length: 1_000_000 }, units: 1, loopBudget: 1_000_000 });
    expect(long.status).toBe(400);
    expect((await long.json()).error.message).toMatch(/^A unit would take 62500 dispatches on the slowest nodes \(1000000 elements × 4000000 FLOPs at the loop budget ÷ 64 MFLOP a dispatch\); at most 1000: cut the work into more units or lower spec\.loopBudget\.$/);
    const source = await submit({ source: 'x'.repeat(70_000) });
    expect((await source.json()).error.message).toMatch(/source/);
  });

  it('takes a kernel and its inputs from the CLI, and prints the compiler\'s messages for one that does not compile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'supernet-wgsl-'));
    writeFileSync(join(dir, 'saxpy.wgsl'), saxpy);
    writeFileSync(join(dir, 'broken.wgsl'), saxpy.replace('let g = range.first + i;', 'let g = range.first + i'));
    writeFileSync(join(dir, 'x.npy'), f32s(1000, 3));
    writeFileSync(join(dir, 'y.f32'), new Uint8Array(new Float32Array(1000).buffer));
    const env = { SUPERNET_URL: coordinator.url, SUPERNET_KEY: dev.key };
    const args = (source: string) => ['submit', 'wgsl', '--source', join(dir, source), '--input', join(dir, 'x.npy'), '--input', `f32:${join(dir, 'y.f32')}`, '--output', 'f32:1000', '--units', '2'];
    const ok = await runCli(args('saxpy.wgsl'), env);
    expect(ok.code, ok.output).toBe(0);
    expect(ok.output).toMatch(/Submitted wgsl job [0-9a-f-]{36}: 2 units/);
    const broken = await runCli(args('broken.wgsl'), env);
    expect(broken.code).not.toBe(0);
    expect(broken.output).toMatch(/spec\.source does not compile: line 1[45], column \d+: /);
    const usage = await runCli([...args('saxpy.wgsl').slice(0, -4), '--output', 'f32'], env);
    expect([usage.code, usage.output]).toEqual([2, 'supernet: --output is ELEMENT:LENGTH, such as f32:1000000 (elements f32, i32 or u32), not "f32".\n']);
  });
});
