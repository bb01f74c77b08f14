import { z } from 'zod';
import { openDawnDevice } from '../../server/agent/dawn.ts';
import { AppError, badRequest } from '../../server/errors.ts';
import { encodeNpyArray, NpyError, parseNpyArray, type Element } from '../../shaders/npy.ts';
import { floatsOf } from '../../shaders/bytes.ts';
import type { Workload } from '../types.ts';
import { checkKernel, elementCost, instrument, limits } from './kernel.ts';
import type { WgslParams } from './unit.ts';

/**
 * wgsl: a developer's own compute kernel (the contract is in kernel.ts), run over an index range
 * cut into units, verified by replication (integers exactly, floats within the developer's
 * tolerance), the units' outputs concatenated into one .npy. Compiled at submission with Dawn;
 * nodes get the kernel as the coordinator instrumented it (loop budget, status word).
 */
const element = z.enum(['f32', 'i32', 'u32']);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'the sha256 of an uploaded file (PUT /api/blobs)');

export const wgslSpec = z
  .object({
    source: z.string().min(1).max(limits.sourceBytes).describe('the WGSL module'),
    entryPoint: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).max(64).default('main'),
    inputs: z
      .array(z.object({ blob: sha256, element: element.optional().describe('for a raw file (its bytes little-endian); a .npy says its own') }).strict())
      .max(limits.inputs)
      .default([]),
    output: z.object({ element, length: z.number().int().min(1).max(limits.elements) }).strict(),
    units: z.number().int().min(1).max(limits.units).default(8).describe('how many units the index range is cut into'),
    flopsPerElement: z.number().min(1).max(limits.flopsPerElement.max).default(limits.flopsPerElement.default).describe('work of one output element, for pay and for sizing dispatches'),
    loopBudget: z.number().int().min(1).max(limits.loopBudget.max).default(limits.loopBudget.default).describe('loop iterations an invocation may take, all loops together'),
    tolerance: z.number().min(0).max(limits.tolerance.max).default(limits.tolerance.default).describe("float outputs: replicas agree when within this relative tolerance (integers: exactly)"),
  })
  .strict();
export type WgslSpec = z.infer<typeof wgslSpec>;

interface Plan {
  length: number;
  element: Element;
}

/** Work per dispatch the slowest nodes aim at (the runner's default): what `dispatchesPerUnit` is counted against. */
const slowestDispatchFlops = 64e6;

/** The coordinator's own WebGPU device, for compiling at submission: opened on first use. */
let compiler: Promise<GPUDevice> | null = null;

/** The compiler's errors for `code` (with line and column), then (`pipeline`) the compute pipeline's, or none. */
async function compileErrors(code: string, entryPoint: string, pipeline = true): Promise<{ line: number; column: number; message: string }[]> {
  compiler ??= openDawnDevice().then((d) => d.device);
  let device: GPUDevice;
  try {
    device = await compiler;
  } catch (err) {
    compiler = null;
    throw new AppError(503, 'no_compiler', `This coordinator cannot compile WGSL (${(err as Error).message}); try again later.`);
  }
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: 'submitted', code });
  const info = await module.getCompilationInfo();
  await device.popErrorScope();
  const errors = info.messages.filter((m) => m.type === 'error').map((m) => ({ line: m.lineNum, column: m.linePos, message: m.message }));
  if (errors.length || !pipeline) return errors;
  try {
    await device.createComputePipelineAsync({ label: 'submitted', layout: 'auto', compute: { module, entryPoint } });
    return [];
  } catch (err) {
    return [{ line: 0, column: 0, message: (err as Error).message }];
  }
}

const listed = (errors: { line: number; column: number; message: string }[]) => errors.slice(0, 8).map((e) => (e.line ? `line ${e.line}, column ${e.column}: ${e.message}` : e.message)).join('; ');

/** An input blob as raw 32-bit elements: a .npy says its type; a raw file takes the spec's. */
function readInput(bytes: Uint8Array, given: Element | undefined, i: number): { element: Element; bytes: Uint8Array } {
  const where = `spec.inputs[${i}]`;
  let element = given, raw = bytes;
  if (bytes[0] === 0x93 && bytes[1] === 0x4e) {
    try {
      const npy = parseNpyArray(bytes);
      if (given && given !== npy.element) throw badRequest(`${where}: the .npy holds ${npy.element}, the spec says ${given}.`, 'bad_input');
      [element, raw] = [npy.element, npy.bytes];
    } catch (err) {
      if (err instanceof NpyError) throw badRequest(`${where}: ${err.message}.`, 'bad_input');
      throw err;
    }
  } else if (!element) throw badRequest(`${where}: a raw file needs "element" (f32, i32 or u32); or upload a .npy.`, 'bad_input');
  if (raw.byteLength % 4) throw badRequest(`${where}: ${raw.byteLength} bytes is not a whole number of 4-byte elements.`, 'bad_input');
  if (raw.byteLength / 4 > limits.elements) throw badRequest(`${where}: ${raw.byteLength / 4} elements; an input holds at most ${limits.elements} (64 MiB).`, 'too_large');
  if (!raw.byteLength) throw badRequest(`${where}: the input is empty.`, 'bad_input');
  return { element: element!, bytes: raw };
}

export const wgsl: Workload<WgslSpec> = {
  kind: 'wgsl',
  description: "Your own WGSL compute kernel over an index range cut into units, on volunteers' GPUs: compiled at submission, loops bounded by a budget, verified by replication (integers exactly, floats within your tolerance). The result is the output array as .npy.",
  specSchema: wgslSpec,
  examples: [],

  async shard(spec, blobs, accountId) {
    const inputs = [];
    for (const [i, input] of spec.inputs.entries()) {
      if (!(await blobs.has(input.blob))) throw badRequest(`spec.inputs[${i}]: no blob ${input.blob.slice(0, 12)}… is stored: upload the file first (PUT /api/blobs).`, 'bad_input');
      inputs.push(readInput(await blobs.read(input.blob), input.element, i));
    }
    let checked;
    try {
      checked = checkKernel(spec.source, spec.entryPoint, inputs.map((x) => x.element), spec.output.element);
    } catch (err) {
      // The parser's own words; the compiler below says it with a column.
      const errors = await compileErrors(spec.source, spec.entryPoint);
      if (errors.length) throw badRequest(`spec.source does not compile: ${listed(errors)}.`, 'wgsl_compile', errors);
      throw badRequest(`spec.source: ${(err as Error).message}`, 'wgsl_compile');
    }
    const compiled = await compileErrors(spec.source, spec.entryPoint, false);
    if (compiled.length) throw badRequest(`spec.source does not compile: ${listed(compiled)}.`, 'wgsl_compile', compiled);
    if (checked.problems.length) throw badRequest(`spec.source does not fit the spec: ${checked.problems.join('; ')}.`, 'wgsl_bindings');
    const pipeline = await compileErrors(spec.source, spec.entryPoint);
    if (pipeline.length) throw badRequest(`spec.source compiles, but its pipeline does not: ${listed(pipeline)}.`, 'wgsl_compile', pipeline);
    const { workgroupSize, hasLoops } = checked.shape!;
    const code = instrument(spec.source, spec.entryPoint, inputs.length, spec.loopBudget);
    const instrumented = await compileErrors(code, spec.entryPoint);
    if (instrumented.length) throw badRequest(`spec.source compiles, but not with the loop budget every kernel here runs under (a barrier after a loop is not uniform once loops are counted): ${listed(instrumented)}.`, 'wgsl_compile', instrumented);

    const cost = elementCost(spec.flopsPerElement, spec.loopBudget, hasLoops);
    const perUnit = Math.ceil(spec.output.length / spec.units);
    const dispatches = Math.ceil((perUnit * cost) / slowestDispatchFlops);
    if (dispatches > limits.dispatchesPerUnit) {
      throw badRequest(`A unit would take ${dispatches} dispatches on the slowest nodes (${perUnit} elements × ${cost} FLOPs${hasLoops && cost > spec.flopsPerElement ? ' at the loop budget' : ''} ÷ ${slowestDispatchFlops / 1e6} MFLOP a dispatch); at most ${limits.dispatchesPerUnit}: cut the work into more units${hasLoops ? ' or lower spec.loopBudget' : ''}.`, 'too_large');
    }
    const kernelSha = (await blobs.put(new TextEncoder().encode(code), accountId)).sha256;
    const inputShas = [];
    for (const input of inputs) inputShas.push((await blobs.put(input.bytes, accountId)).sha256);
    const units = [];
    for (let first = 0; first < spec.output.length; first += perUnit) {
      const count = Math.min(perUnit, spec.output.length - first);
      const params: WgslParams = { first, count, entryPoint: spec.entryPoint, workgroupSize, cost, loopBudget: spec.loopBudget, element: spec.output.element, tolerance: spec.tolerance };
      units.push({ params: { ...params }, inputs: [kernelSha, ...inputShas], flops: count * spec.flopsPerElement });
    }
    const plan: Plan = { length: spec.output.length, element: spec.output.element };
    return { plan: { ...plan }, units, flops: spec.output.length * spec.flopsPerElement };
  },

  malformed(params, result) {
    const p = params as unknown as WgslParams;
    return result.byteLength === p.count * 4 ? null : `the result is ${result.byteLength} bytes; the unit's ${p.count} ${p.element} elements are ${p.count * 4}`;
  },

  agree(params, x, y) {
    const p = params as unknown as WgslParams;
    if (x.byteLength !== y.byteLength) return false;
    if (p.element !== 'f32') return x.every((b, i) => b === y[i]);
    const a = floatsOf(x), b = floatsOf(y);
    for (let i = 0; i < a.length; i++) {
      const [u, v] = [a[i]!, b[i]!];
      if (Number.isNaN(u) && Number.isNaN(v)) continue;
      if (!(Math.abs(u - v) <= p.tolerance * Math.max(1, Math.abs(u), Math.abs(v))) && u !== v) return false;
    }
    return true;
  },

  assemble(plan, units) {
    const { length, element } = plan as unknown as Plan;
    const bytes = new Uint8Array(length * 4);
    for (const unit of units) bytes.set(unit.result, (unit.params as unknown as WgslParams).first * 4);
    return { bytes: encodeNpyArray({ shape: [length], element, bytes }), contentType: 'application/octet-stream', extension: 'npy' };
  },
};
