import { matmul } from './matmul/coordinator.ts';
import { render } from './render/coordinator.ts';
import { frames } from './frames/coordinator.ts';
import { wgsl } from './wgsl/coordinator.ts';
import { train } from './train/coordinator.ts';
import { infer } from './train/infer.ts';
import type { Workload } from './types.ts';

/** Every workload the coordinator serves, by kind. */
export const workloads: Record<string, Workload<any>> = {
  [matmul.kind]: matmul,
  [render.kind]: render,
  [frames.kind]: frames,
  [wgsl.kind]: wgsl,
  [train.kind]: train,
  [infer.kind]: infer,
};
