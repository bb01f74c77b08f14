/** The implementations the bench compares, as bench/results/matmul.json names them. */
export type Impl = 'ours' | 'naive' | 'tfjs' | 'jax' | 'cpu';

/**
 * Runs each impl `runs` times after one warm-up (pipelines compile, caches fill), the impls
 * interleaved run by run so that a noisy neighbour slows them alike, and returns each one's
 * median milliseconds.
 */
export async function timeRuns(impls: Impl[], runs: number, once: (impl: Impl) => Promise<unknown>): Promise<Partial<Record<Impl, number>>> {
  const times: Partial<Record<Impl, number[]>> = {};
  for (const impl of impls) await once(impl);
  for (let r = 0; r < runs; r++) {
    for (const impl of impls) {
      const start = performance.now();
      await once(impl);
      (times[impl] ??= []).push(performance.now() - start);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([impl, list]) => [impl, median(list!)]));
}

export function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
