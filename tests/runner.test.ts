import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDawnDevice, type DawnDevice } from '../server/agent/dawn.ts';
import { runKernel, type KernelRun } from '../shaders/runner.ts';

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
});
