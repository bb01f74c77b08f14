import { basename } from 'node:path';
import type { CliWorkload } from '../types.ts';

/** `supernet submit wgsl --source k.wgsl --input x.npy --input y.npy --output f32:1000000 --units 8 --wait --out out.npy`. */
export const wgslCli: CliWorkload = {
  kind: 'wgsl',
  options: {
    source: { type: 'string', help: 'the kernel, a .wgsl file (its contract: README, "wgsl")' },
    input: { type: 'string', multiple: true, help: 'an input array: a .npy, or a raw file as f32:FILE, i32:FILE or u32:FILE' },
    output: { type: 'string', help: 'the output as ELEMENT:LENGTH (f32:1000000)' },
    units: { type: 'string', help: 'how many units the range is cut into (default 8)' },
    'flops-per-element': { type: 'string', help: 'work of one element, for pay and dispatch sizes (default 100)' },
    'loop-budget': { type: 'string', help: 'loop iterations an invocation may take (default 100000)' },
    tolerance: { type: 'string', help: 'relative tolerance between replicas of float outputs (default 1e-5)' },
    entry: { type: 'string', help: 'the entry point (default main)' },
  },
  async spec(values, given, host) {
    const spec: Record<string, unknown> = { ...given };
    if (values.source !== undefined) spec.source = new TextDecoder().decode(host.readFile(values.source as string, '--source'));
    const inputs = values.input as string[] | undefined;
    if (inputs) {
      spec.inputs = [];
      for (const input of inputs) {
        const typed = /^(f32|i32|u32):(.+)$/.exec(input);
        const path = typed ? typed[2]! : input;
        const { sha256 } = await host.putBlob(host.readFile(path, `--input ${basename(path)}`));
        (spec.inputs as unknown[]).push(typed ? { blob: sha256, element: typed[1] } : { blob: sha256 });
      }
    }
    if (values.output !== undefined) {
      const m = /^(f32|i32|u32):(\d+)$/.exec(values.output as string);
      if (!m) throw host.usage(`--output is ELEMENT:LENGTH, such as f32:1000000 (elements f32, i32 or u32), not "${values.output}".`);
      spec.output = { element: m[1], length: Number(m[2]) };
    }
    for (const [flag, field] of [['units', 'units'], ['flops-per-element', 'flopsPerElement'], ['loop-budget', 'loopBudget'], ['tolerance', 'tolerance']] as const) {
      const v = values[flag] as string | undefined;
      if (v === undefined) continue;
      const n = Number(v);
      if (!Number.isFinite(n)) throw host.usage(`--${flag} takes a number, not "${v}".`);
      spec[field] = n;
    }
    if (values.entry !== undefined) spec.entryPoint = values.entry;
    return spec;
  },
};
