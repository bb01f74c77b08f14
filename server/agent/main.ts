import WebSocket from 'ws';
import { calibrate, kernels } from '../../shaders/kernels.ts';
import { openDawnDevice, type DawnDevice } from './dawn.ts';
import { NodeRuntime } from './runtime.ts';

export interface AgentOptions {
  url: string;
  key?: string;
  name?: string;
  slots?: number;
  log?: (line: string) => void;
}

/**
 * The headless node: Dawn's WebGPU in Node, the shared node runtime, the shared kernels.
 * A lost device fails the attempt in hand and is opened again for the next one.
 */
export async function startAgent(opts: AgentOptions): Promise<NodeRuntime> {
  const log = opts.log ?? ((line: string) => console.log(`[agent] ${line}`));
  let gpu: DawnDevice = await openDawnDevice();
  let lost = false;
  const watch = (g: DawnDevice) => void g.device.lost.then((info) => {
    lost = true;
    log(`GPU device lost (${info.message}); it will be reopened`);
  });
  watch(gpu);
  const gflops = await calibrate(gpu.device);
  log(`${gpu.adapter.description || gpu.adapter.vendor || 'WebGPU adapter'}: ${gflops.toFixed(2)} GFLOP/s at calibration`);
  const runtime = new NodeRuntime({
    url: opts.url.replace(/\/$/, ''),
    key: opts.key,
    name: opts.name,
    slots: opts.slots,
    log,
    capabilities: { adapter: gpu.adapter, features: gpu.features, gflops, kinds: Object.keys(kernels) },
    connect: (url, headers) => new WebSocket(url, { headers }) as unknown as globalThis.WebSocket,
    async execute(unit, inputs) {
      const kernel = kernels[unit.kind];
      if (!kernel) throw new Error(`this node cannot run ${unit.kind} units`);
      if (lost) {
        gpu = await openDawnDevice();
        lost = false;
        watch(gpu);
      }
      return kernel(gpu.device, inputs, unit.params);
    },
  });
  runtime.start();
  return runtime;
}
