import { parseNpy } from '../../shaders/npy.ts';
import type { Lut, Stage } from './filters.ts';
import { readFrame, type Frame } from './image.ts';

/** A frames unit: one frame (its inputs: the frame's PNG, then the chain's LUTs as float32 .npy, n³ × 3). */
export interface FrameParams {
  index: number;
  name: string;
  width: number;
  height: number;
  stages: Stage[];
}

/** The unit's frame and LUTs from its inputs, as the node and the coordinator's check read them. */
export function unitInputs(params: FrameParams, inputs: Uint8Array[]): { frame: Frame; luts: Lut[] } {
  const frame = readFrame(inputs[0]!);
  const luts: Lut[] = [];
  for (const s of params.stages) if (s.type === 'lut') luts[s.input] = { size: s.size, domain: s.domain, table: parseNpy(inputs[1 + s.input]!).data };
  return { frame, luts };
}
