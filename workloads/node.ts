import type { Tuning } from './matmul/autotune.ts';
import { dispatchSecondsTarget, type MatmulConfig } from './matmul/gpu.ts';
import { matmulNode } from './matmul/node.ts';
import { renderNode } from './render/node.ts';
import { framesNode } from './frames/node.ts';
import { wgslNode } from './wgsl/node.ts';
import { inferNode, trainNode } from './train/node.ts';
import type { Pacer } from '../shaders/pacer.ts';
import type { NodeKernel } from './types.ts';

/** A device and what calibration learned about it. */
export interface GpuContext {
  device: GPUDevice;
  matmul: MatmulConfig;
  /** Work per dispatch that keeps each one near `dispatchSecondsTarget` on this device. */
  dispatchFlopsMax: number;
  /** The node's throttle, where it has one. */
  pacer?: Pacer;
}

export function gpuContext(device: GPUDevice, tuning: Tuning, pacer?: Pacer): GpuContext {
  return { device, matmul: tuning.config, dispatchFlopsMax: Math.max(1e6, tuning.gflops * 1e9 * dispatchSecondsTarget), pacer };
}

/** The node halves of the workloads, one line each: what browser tabs and agents can run. The
 * coordinator's halves are in ./coordinator.ts, the portal's in ./portal.ts. */
export const kernels: Record<string, NodeKernel> = Object.fromEntries([matmulNode, renderNode, framesNode, wgslNode, trainNode, inferNode].map((k) => [k.kind, k]));

/** The kinds a node says it runs in its hello. */
export const kinds = Object.keys(kernels);
/** The kinds a node without WebGPU runs, on the CPU in JavaScript. */
export const cpuKinds = Object.values(kernels).filter((k) => !k.gpuOnly).map((k) => k.kind);
