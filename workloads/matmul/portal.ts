import { parseNpy } from '../../shaders/npy.ts';
import type { PortalWorkload } from '../types.ts';
import { drawHeatmap } from './heatmap.ts';

/** matmul in the portal: A and B as uploaded .npy files; the result as a heatmap. */
export const matmulPortal: PortalWorkload = {
  kind: 'matmul',

  inputs(host, page, changed) {
    host.innerHTML = `<label>A <input id="file-a" type="file" accept=".npy" /></label> <label>B <input id="file-b" type="file" accept=".npy" /></label> <span id="inputs-note" class="note" aria-live="polite"></span>`;
    // Each file: not chosen, refused (why), uploading, or stored (its sha256).
    const files: Record<'a' | 'b', { sha256?: string; why?: string } | null> = { a: null, b: null };
    for (const which of ['a', 'b'] as const) {
      host.querySelector<HTMLInputElement>(`#file-${which}`)!.addEventListener('change', async (e) => {
        const file = (e.target as HTMLInputElement).files?.[0];
        files[which] = null;
        if (!file) return changed();
        const bytes = new Uint8Array(await file.arrayBuffer());
        try {
          const m = parseNpy(bytes);
          files[which] = { why: `${which.toUpperCase()} (${m.rows}×${m.cols}) is uploading…` };
        } catch (err) {
          files[which] = { why: `${file.name} is not a float32 .npy matrix: ${(err as Error).message}. Choose another ${which.toUpperCase()}.` };
          return changed();
        }
        changed();
        try {
          files[which] = { sha256: (await page.putBlob(bytes)).sha256 };
        } catch (err) {
          files[which] = { why: `${which.toUpperCase()} could not be uploaded: ${(err as Error).message}` };
        }
        changed();
      });
    }
    return {
      spec() {
        for (const which of ['a', 'b'] as const) if (files[which]?.why) return { why: files[which]!.why! };
        const missing = (['a', 'b'] as const).filter((w) => !files[w]).map((w) => w.toUpperCase());
        if (missing.length) return { why: `Choose ${missing.join(' and ')} (float32 .npy files) to see the estimate.` };
        return { spec: { a: files.a!.sha256!, b: files.b!.sha256! } };
      },
    };
  },

  result: { extension: 'npy', description: 'C as a float32 .npy' },

  show(host, bytes, page) {
    const m = parseNpy(bytes);
    host.innerHTML = `<p class="note" id="result-size">${page.esc(`${m.rows}×${m.cols} float32, ${bytes.byteLength} bytes`)}</p><canvas id="heatmap" class="heatmap" width="256" height="256" aria-label="heatmap of the result"></canvas>`;
    drawHeatmap(host.querySelector<HTMLCanvasElement>('#heatmap')!, m);
  },
};
