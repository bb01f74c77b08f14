import { runKernel } from '../../shaders/runner.ts';
import type { NodeKernel } from '../types.ts';
import { workgroupsPerDispatch, type WgslParams } from './unit.ts';

/** A kernel's pipeline is cached by its label: the sha-256 of its text, so another text never runs under it. */
async function labelOf(code: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', code as Uint8Array<ArrayBuffer>));
  return `wgsl/${[...digest.subarray(0, 12)].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** wgsl's node half: the instrumented kernel over the unit's range, split into dispatches along it. */
export const wgslNode: NodeKernel = {
  kind: 'wgsl',
  gpuOnly: true,

  async run(gpu, [code, ...inputs], params) {
    if (!code) throw new Error('a wgsl unit needs its kernel');
    const p = params as unknown as WgslParams;
    const wg = p.workgroupSize;
    const perDispatch = workgroupsPerDispatch * wg;
    const [out, status] = await runKernel(
      gpu.device,
      {
        kernel: { label: await labelOf(code), code: new TextDecoder().decode(code), entryPoint: p.entryPoint },
        inputs: inputs.map((data, i) => ({ label: `input${i}`, data })),
        outputs: [
          { label: 'out', bytes: p.count * 4 },
          { label: 'status', bytes: 4 },
        ],
        groups: [Math.ceil(Math.min(p.count, perDispatch) / wg)],
        split: { length: p.count, step: wg, flopsPerStep: p.cost, uniforms: (from, to) => new Uint32Array([p.first, from, to, 0]) },
      },
      // A dispatch covers at most the workgroups one dispatch may have, even on a fast node.
      { dispatchFlopsMax: Math.min(gpu.dispatchFlopsMax, perDispatch * p.cost), ...(gpu.pacer ? { pacer: gpu.pacer } : {}) },
    );
    if (new Uint32Array(status!)[0]) throw new Error(`the kernel ran past its loop budget (${p.loopBudget} iterations an invocation, all loops together) and was cut off: raise spec.loopBudget if it needs more, or look for a loop that never ends`);
    return new Uint8Array(out!);
  },

  describe(params) {
    const p = params as unknown as WgslParams;
    return `elements ${p.first}-${p.first + p.count - 1} of a developer's WGSL kernel (${p.entryPoint})`;
  },

  cpu() {
    throw new Error('a wgsl unit runs only on WebGPU');
  },
};
