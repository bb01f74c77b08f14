import type { Element } from '../../shaders/npy.ts';

/** Workgroups of one dispatch at most (WebGPU's default maxComputeWorkgroupsPerDimension). */
export const workgroupsPerDispatch = 65_535;

/** A wgsl unit: the output's elements [first, first + count), and how to run and compare them. Inputs: the instrumented kernel's text, then the spec's inputs as raw bytes. */
export interface WgslParams {
  first: number;
  count: number;
  entryPoint: string;
  workgroupSize: number;
  /** Nominal FLOPs an element may cost at worst (kernel.ts elementCost): what dispatches are sized by. */
  cost: number;
  loopBudget: number;
  element: Element;
  tolerance: number;
}
