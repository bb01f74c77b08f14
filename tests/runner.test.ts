import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDawnDevice, type DawnDevice } from '../server/agent/dawn.ts';
import { runKernel, runPasses, type KernelRun, type PassesRun } from '../shaders/runner.ts';

let gpu: DawnDevice;
beforeAll(async () => {
  gpu = await openDawnDevice();
});
afterAll(() => gpu?.device.destroy());

/** out[i] += in[i] * (to - from), over dispatches of [from, to) of the split axis. */
const code = `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> range: vec4u;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < arrayLength(&x)) { out[id.x] += x[id.x] * f32(range.y - range.x); }
}`;
const run = (label: string, source: string): KernelRun => ({
  kernel: { label, code: source },
  inputs: [{ label: 'x', data: new Float32Array([1, 2, 3, 4, 5]) }],
  outputs: [{ label: 'out', bytes: 20 }],
  groups: [1],
  split: { length: 10, step: 1, flopsPerStep: 5, uniforms: (from, to) => new Uint32Array([from, to, 0, 0]) },
});

describe('the one GPU runner (Dawn)', () => {
  it('splits a run along its axis within the budget and adds the dispatches up', async () => {
    const stats = { dispatches: 0, maxDispatchMs: 0 };
    const [out] = await runKernel(gpu.device, run('test/sum', code), { dispatchFlopsMax: 15, stats });
    expect(stats.dispatches).toBe(4); // 3 + 3 + 3 + 1 of 10
    expect([...new Float32Array(out!)]).toEqual([10, 20, 30, 40, 50]);
  });

  it('says what is wrong with a kernel that does not compile, every time it is run', async () => {
    const broken = run('test/broken', code.replace('f32(range.y - range.x)', 'f32(range.y - range.x'));
    for (let i = 0; i < 2; i++) await expect(runKernel(gpu.device, broken)).rejects.toThrow(/test\/broken failed on the GPU: .*(error|expected)/i);
    await expect(runKernel(gpu.device, broken)).rejects.not.toThrow(/previous error/);
  });

  it('chains passes over buffers that stay on the GPU, in submits within the budget, and reads back only what is asked', async () => {
    // y = x·2 then z = y + x, twice over: four passes of 5 FLOPs.
    const scale = `
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> k: vec4f;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < arrayLength(&out)) { out[id.x] = a[id.x] * k.x + b[id.x] * k.y; }
}`;
    const step = (from: string, to: string): PassesRun['passes'][number] => ({ kernel: { label: 'test/axpy', code: scale }, bind: { 0: from, 1: 'x', 2: to }, uniforms: new Float32Array([2, 1, 0, 0]), uniformsAt: 3, groups: [1], flops: 5 });
    const chain: PassesRun = {
      label: 'test/chain',
      buffers: { x: { data: new Float32Array([1, 2, 3, 4, 5]) }, y: { bytes: 20 }, z: { bytes: 20 } },
      passes: [step('x', 'y'), step('y', 'z'), step('z', 'y'), step('y', 'z')],
      read: ['z'],
    };
    const stats = { dispatches: 0, maxDispatchMs: 0, submits: 0 };
    const [z] = await runPasses(gpu.device, chain, { dispatchFlopsMax: 10, stats });
    // x → 3x → 7x → 15x → 31x.
    expect([...new Float32Array(z!)]).toEqual([31, 62, 93, 124, 155]);
    expect([stats.dispatches, stats.submits]).toEqual([4, 2]);
    await expect(runPasses(gpu.device, { ...chain, passes: [step('x', 'w')] })).rejects.toThrow(/binds w, which is not a buffer of the run/);
  });
});
