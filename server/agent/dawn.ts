import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usefulFeatures } from '../../workloads/matmul/configs.ts';
import { restWhileGpuBusy } from '../../workloads/matmul/gpu.ts';

/**
 * WebGPU in Node through Dawn (the `webgpu` package).
 *
 * On machines without a GPU, Dawn needs a CPU Vulkan driver: SwiftShader ships with Debian's
 * `chromium` package (Mesa's lavapipe in Debian 12 is refused by Dawn, missing features). When
 * VK_ICD_FILENAMES is unset and the machine has no GPU device node, we point at SwiftShader.
 */
const swiftshaderIcd = '/usr/lib/chromium/vk_swiftshader_icd.json';

function chooseVulkanDriver() {
  // Without a runtime directory the Vulkan loader's window-system probe prints "error:
  // XDG_RUNTIME_DIR is invalid or not set" twice (harmless: no window is ever made), which reads
  // as a failure to whoever starts an agent. A private one of our own keeps it quiet.
  const runtimeDir = process.env.XDG_RUNTIME_DIR;
  if (!runtimeDir || !existsSync(runtimeDir) || !statSync(runtimeDir).isDirectory()) {
    const dir = join(tmpdir(), `supernet-runtime-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  }
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return;
  const hasGpu = existsSync('/dev/dri') || readdirSync('/dev').some((f) => f.startsWith('nvidia'));
  if (!hasGpu && existsSync(swiftshaderIcd)) process.env.VK_ICD_FILENAMES = swiftshaderIcd;
}

// Dawn segfaults in ProcessEvents if the object `create()` returns is garbage-collected
// while its devices live, so it is kept here for the life of the process.
let gpu: GPU | undefined;

export interface DawnDevice {
  device: GPUDevice;
  adapter: { vendor: string; architecture: string; device: string; description: string };
  features: string[];
}

export async function openDawnDevice(): Promise<DawnDevice> {
  chooseVulkanDriver();
  if (!gpu) {
    const dawn = await import('webgpu');
    Object.assign(globalThis, dawn.globals);
    gpu = dawn.create([]);
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error('No WebGPU adapter: install a Vulkan driver (on a machine without a GPU: apt-get install chromium libvulkan1 for SwiftShader).');
  }
  const device = await adapter.requestDevice({
    label: 'supernet-agent',
    requiredFeatures: usefulFeatures(adapter),
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  // Dawn's promises spin this thread; on a CPU driver the runner sleeps instead (index.ts).
  restWhileGpuBusy(device);
  const info = adapter.info;
  return {
    device,
    adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description },
    features: [...adapter.features],
  };
}
