import { WgslReflect, WgslScanner } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { Element } from '../../shaders/npy.ts';
import { workgroupsPerDispatch } from './unit.ts';

/**
 * A developer's WGSL kernel: what it must declare, how it is checked against its spec (by
 * reflection, with wgsl_reflect), and how it is made safe to run on a stranger's GPU (the loop
 * budget). Isomorphic: the coordinator checks and instruments at submission, the portal checks
 * as the developer types, nodes run what the coordinator instrumented.
 *
 * The contract, for a spec with n inputs (all in @group(0)):
 *   @binding(0 … n-1)  var<storage, read> NAME: array<T>        the inputs, T as each input's element
 *   @binding(n)        var<storage, read_write> NAME: array<T>  the unit's slice of the output
 *   @binding(n+1)      var<uniform> NAME: S                      S a struct of three u32: first, begin, end
 *   @compute @workgroup_size(X) fn ENTRY(…)                      X a whole number up to 256 (one dimension)
 * A unit owns the output's elements [first, first + count). Each dispatch asks the kernel for its
 * local indices [begin, end) of that slice: element `first + i` of the output goes to `out[i]`.
 * Invocation `global_invocation_id.x` handles i = begin + id.x, and does nothing where i ≥ end.
 *
 * The loop budget: every `loop`, `for` and `while` body begins with a call that counts the
 * iterations of its invocation, all loops together; past `loopBudget` it raises a flag in a
 * storage word the runner reads back and breaks out of the loop. The unit then fails with that
 * reason and the node goes on. With no recursion in WGSL, loops are the only way a kernel runs
 * on, so an invocation's work is bounded by its straight-line code times the budget, and the
 * runner sizes each dispatch for that worst case (see `elementCost`). The rewrite inserts text
 * within lines and appends its declarations at the end: the compiler's line numbers stay the
 * developer's. A loop-counting branch is not uniform, so a barrier after a loop in the same
 * function no longer compiles: such kernels are refused with that reason.
 */
export const limits = {
  sourceBytes: 64 * 1024,
  inputs: 8,
  /** Per input and for the output: 16 Mi elements of 4 bytes, 64 MiB. */
  elements: 16 * 1024 * 1024,
  units: 1024,
  workgroupSize: 256,
  workgroupsPerDispatch,
  /** Dispatches one unit may take at the default budget of work per dispatch (64 MFLOP, the slowest nodes'). */
  dispatchesPerUnit: 1000,
  loopBudget: { default: 100_000, max: 10_000_000 },
  flopsPerElement: { default: 100, max: 10_000_000 },
  /** Relative tolerance of float outputs between replicas. */
  tolerance: { default: 1e-5, max: 1e-2 },
} as const;

/** Nominal FLOPs of one loop iteration, for the worst case of a dispatch. */
const iterationFlops = 4;

/** What a unit's dispatches must be sized for: an element's declared work, or its loops spinning to the budget. */
export const elementCost = (flopsPerElement: number, loopBudget: number, hasLoops: boolean) => Math.max(flopsPerElement, hasLoops ? loopBudget * iterationFlops : 0);

export interface KernelShape {
  workgroupSize: number;
  hasLoops: boolean;
}

/** WGSL element types of the arrays a kernel binds. */
const elements = new Set<string>(['f32', 'i32', 'u32']);

/**
 * Reads the kernel's bindings and entry point and checks them against the spec: every problem
 * as a sentence naming the binding. Throws the parser's message (with its line) when the source
 * does not parse.
 */
export function checkKernel(source: string, entryPoint: string, inputs: Element[], output: Element): { shape?: KernelShape; problems: string[] } {
  const reflect = new WgslReflect(source);
  const problems: string[] = [];
  const n = inputs.length;
  const resources = [...reflect.storage, ...reflect.uniforms, ...reflect.textures, ...reflect.samplers];
  const named = (v: { name: string; binding: number }) => `binding ${v.binding} (${v.name})`;
  for (const v of resources) {
    if (v.group !== 0) problems.push(`${v.name} is in @group(${v.group}); every binding is in @group(0)`);
    else if (v.binding > n + 1) problems.push(`${named(v)} is past the last one the spec gives (inputs at 0-${n - 1}, the output at ${n}, the range at ${n + 1})`);
  }
  const at = (binding: number) => resources.find((v) => v.group === 0 && v.binding === binding);
  const arrayOf = (v: (typeof resources)[number]) => (v.type.name === 'array' ? ((v.type as { format?: { name: string } }).format?.name ?? '?') : v.type.name);
  for (let i = 0; i <= n; i++) {
    const v = at(i);
    const want = i < n ? inputs[i]! : output;
    const role = i < n ? `spec.inputs[${i}]` : 'the output';
    if (!v) problems.push(`binding ${i} is missing: ${role} (array<${want}>) binds there`);
    else if (v.resourceType !== 1 /* storage */ || v.type.name !== 'array') problems.push(`${named(v)} is ${v.type.name === 'array' ? 'not a storage buffer' : v.type.name}; ${role} is var<storage, ${i < n ? 'read' : 'read_write'}> array<${want}>`);
    else if (arrayOf(v) !== want) problems.push(`${named(v)} is array<${arrayOf(v)}>, but ${role} is ${want}${elements.has(arrayOf(v)) ? '' : ' (arrays of f32, i32 or u32 only)'}`);
    else if (i < n && v.access !== 'read') problems.push(`${named(v)} is ${v.access}; inputs are read-only: var<storage, read>`);
    else if (i === n && v.access !== 'read_write') problems.push(`${named(v)} is ${v.access}; the output is var<storage, read_write>`);
  }
  const range = at(n + 1);
  const members = (range?.type as { members?: { name: string; type: { name: string } }[] } | undefined)?.members;
  if (!range) problems.push(`binding ${n + 1} is missing: the range, var<uniform> NAME: S with S { first: u32, begin: u32, end: u32 }`);
  else if (range.resourceType !== 0 /* uniform */ || !members || members.length !== 3 || members.some((m) => m.type.name !== 'u32')) {
    problems.push(`${named(range)} must be var<uniform> of a struct of three u32 (first, begin, end)`);
  }
  const entry = reflect.entry.compute.find((e) => e.name === entryPoint);
  if (!entry) {
    problems.push(`no @compute function is named ${entryPoint}${reflect.entry.compute.length ? ` (there is ${reflect.entry.compute.map((e) => e.name).join(', ')})` : ''}`);
    return { problems };
  }
  const [x, y = 1, z = 1] = (entry.workgroupSize ?? []) as (number | string)[];
  if (typeof x !== 'number' || y !== 1 || z !== 1 || x < 1 || x > limits.workgroupSize) problems.push(`@workgroup_size of ${entryPoint} must be one whole number from 1 to ${limits.workgroupSize} (kernels here are one-dimensional)`);
  const hasLoops = new WgslScanner(source).scanTokens().some((t) => ['loop', 'for', 'while'].includes(t.type.name));
  return { shape: { workgroupSize: typeof x === 'number' ? x : 1, hasLoops }, problems };
}

/** The names of the kernel's bindings 0 … n+1, from reflection. */
function bindingNames(source: string, n: number): string[] {
  const reflect = new WgslReflect(source);
  const all = [...reflect.storage, ...reflect.uniforms];
  return Array.from({ length: n + 2 }, (_, b) => all.find((v) => v.group === 0 && v.binding === b)!.name);
}

/**
 * The kernel as nodes run it: loops counted against `loopBudget`, a status word at binding n+1
 * (the range moves to n+2), and every binding referenced from the entry point (so the pipeline's
 * layout holds them all, used or not). Lines stay where they were.
 */
export function instrument(source: string, entryPoint: string, n: number, loopBudget: number): string {
  const tokens = new WgslScanner(source).scanTokens();
  const edits: { start: number; end: number; text: string }[] = [];
  const names = bindingNames(source, n);
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    const kind = t.type.name;
    // The range's @binding(n+1) becomes @binding(n+2): the status word takes n+1.
    if (t.lexeme === 'binding' && tokens[k - 1]?.lexeme === '@' && tokens[k + 2]?.lexeme === String(n + 1)) edits.push({ start: tokens[k + 2]!.start, end: tokens[k + 2]!.end, text: String(n + 2) });
    if (kind === 'fn' && tokens[k + 1]?.lexeme === entryPoint) {
      let j = k + 2;
      while (j < tokens.length && tokens[j]!.type.name !== 'brace_left') j++;
      if (j < tokens.length) edits.push({ start: tokens[j]!.end, end: tokens[j]!.end, text: ` ${[...names, '_sn_status'].map((v) => `_ = &${v};`).join(' ')}` });
    }
    if (kind !== 'loop' && kind !== 'for' && kind !== 'while') continue;
    let j = k + 1;
    if (kind === 'for') {
      for (let depth = 0; j < tokens.length; j++) {
        const name = tokens[j]!.type.name;
        if (name === 'paren_left') depth++;
        if (name === 'paren_right' && --depth === 0) break;
      }
    }
    while (j < tokens.length && tokens[j]!.type.name !== 'brace_left') j++;
    if (j < tokens.length) edits.push({ start: tokens[j]!.end, end: tokens[j]!.end, text: ' if (_sn_spin()) { break; }' });
  }
  let out = source;
  for (const { start, end, text } of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, start) + text + out.slice(end);
  return `${out}
// Added by Supernet: the loop budget (workloads/wgsl/kernel.ts).
@group(0) @binding(${n + 1}) var<storage, read_write> _sn_status: atomic<u32>;
var<private> _sn_spins: u32 = 0u;
fn _sn_spin() -> bool {
  _sn_spins = _sn_spins + 1u;
  if (_sn_spins > ${loopBudget >>> 0}u) { atomicStore(&_sn_status, 1u); return true; }
  return false;
}
`;
}
