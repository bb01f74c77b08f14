import { unzipSync } from 'fflate';
import type { PortalWorkload } from '../types.ts';
import { uploadOnChange } from '../portal-uploads.ts';
import { parseChain } from './chain.ts';

const thumbs = 8;

/** Thumbnails of the first PNGs of a zip, in natural order, as <img> tags. */
function thumbnails(zip: Uint8Array, alt: string): string {
  const files = Object.entries(unzipSync(zip, { filter: (f) => /\.png$/i.test(f.name) && !f.name.startsWith('__MACOSX/') }))
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .slice(0, thumbs);
  return files.map(([name, png]) => `<img class="frame-thumb" alt="${alt} ${name.replace(/[<>"&]/g, '')}" title="${name.replace(/[<>"&]/g, '')}" src="${URL.createObjectURL(new Blob([png as BlobPart], { type: 'image/png' }))}" style="height: 72px; margin: 2px; image-rendering: pixelated" />`).join('');
}

/** frames in the portal: a zip of PNGs, a chain typed as the CLI takes it, a LUT file; before and after thumbnails. */
export const framesPortal: PortalWorkload = {
  kind: 'frames',

  inputs(host, page, changed) {
    host.innerHTML = `<label>frames (a zip of PNGs) <input id="frames-zip" type="file" accept=".zip" /></label>
      filters <input id="frames-filters" value="blur:2, sobel" size="28" aria-label="filters, left to right" />
      <label>LUT <input id="frames-lut" type="file" accept=".cube" /></label> <span class="note">blur:SIGMA, sobel, lut, resize:WxH</span>`;
    const files = uploadOnChange({ zip: host.querySelector<HTMLInputElement>('#frames-zip')!, lut: host.querySelector<HTMLInputElement>('#frames-lut')! }, page, changed);
    host.querySelector('#frames-filters')!.addEventListener('change', changed);
    return {
      spec() {
        if (files.zip?.why) return { why: files.zip.why };
        if (!files.zip) return { why: 'Choose a zip of PNG frames to see the estimate.' };
        let chain;
        try {
          chain = parseChain(host.querySelector<HTMLInputElement>('#frames-filters')!.value);
        } catch (err) {
          return { why: `Filters: ${(err as Error).message}.` };
        }
        if (chain.some((f) => f.type === 'lut')) {
          if (files.lut?.why) return { why: files.lut.why };
          if (!files.lut) return { why: 'The chain has a LUT: choose its .cube file.' };
        }
        const filters = chain.map((f) => (f.type === 'lut' ? { type: 'lut', lut: files.lut!.sha256!, file: files.lut!.name! } : f));
        return { spec: { frames: files.zip.sha256!, file: files.zip.name!, filters } };
      },
    };
  },

  // Before: the first frames of the uploaded zip; after: the contact sheet of the frames done so far.
  progress(host, job) {
    const spec = job.spec as { frames: string };
    if (!host.querySelector('#frames-live')) {
      host.innerHTML = `<div id="frames-live"><p class="note">Before</p><div id="frames-before"></div><p class="note">After (<span id="frames-done">0</span> of ${job.units.length} frames)</p><img id="frames-after" alt="the frames done so far" style="max-width: 100%" /></div>`;
      void fetch(`/api/blobs/${spec.frames}`)
        .then(async (r) => (host.querySelector('#frames-before')!.innerHTML = thumbnails(new Uint8Array(await r.arrayBuffer()), 'before:')))
        .catch(() => undefined);
    }
    host.querySelector('#frames-done')!.textContent = String(job.verified);
    const img = host.querySelector<HTMLImageElement>('#frames-after')!;
    if (job.verified > 0 && img.dataset.shown !== String(job.verified)) {
      img.dataset.shown = String(job.verified);
      img.src = `/api/jobs/${job.id}/preview?verified=${job.verified}`;
    }
  },

  result: { extension: 'zip', description: 'a zip of the filtered frames (PNG)' },

  show(host, bytes) {
    host.innerHTML = `<div id="frames-result">${thumbnails(bytes, 'after:')}</div>`;
  },
};
