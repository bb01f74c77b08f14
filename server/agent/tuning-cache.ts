import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { autotuneMatmul, type Tuning } from '../../workloads/matmul/autotune.ts';
import { matmulKernels } from '../../workloads/matmul/configs.ts';
import type { DawnDevice } from './dawn.ts';

/** Where the agent remembers each adapter's autotune result: `SUPERNET_CACHE` or ~/.cache/supernet. */
export const tuningFile = () => join(process.env.SUPERNET_CACHE || join(homedir(), '.cache', 'supernet'), 'autotune.json');

const adapterKey = ({ adapter }: DawnDevice) => [adapter.vendor, adapter.architecture, adapter.device, adapter.description].join('|');

function readAll(file: string): Record<string, Tuning> {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
}

/** The remembered tuning for this adapter, or a fresh autotune (then remembered). */
export async function tuningFor(gpu: DawnDevice): Promise<{ tuning: Tuning; cached: boolean }> {
  const file = tuningFile();
  const all = readAll(file);
  const known = all[adapterKey(gpu)];
  if (known && known.config.kernel in matmulKernels) return { tuning: known, cached: true };
  const tuning = await autotuneMatmul(gpu.device);
  all[adapterKey(gpu)] = tuning;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(all, null, 2));
  } catch {
    // a read-only home: tune again next time
  }
  return { tuning, cached: false };
}
