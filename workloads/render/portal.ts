import type { PortalWorkload } from '../types.ts';
import { builtinScenes } from './scene.ts';

const tints: Record<string, string> = {
  pending: 'rgba(208, 213, 226, 0.75)',
  running: 'rgba(245, 158, 11, 0.55)',
  refining: 'rgba(255, 255, 255, 0.12)',
  verified: 'transparent',
  failed: 'rgba(220, 38, 38, 0.6)',
};

/** render in the portal: a built-in scene, its size and samples; live, the picture filling in; the result as the picture. */
export const renderPortal: PortalWorkload = {
  kind: 'render',

  inputs(host, page, changed) {
    host.innerHTML = `<label>scene <select id="render-scene">${Object.keys(builtinScenes).map((n) => `<option>${page.esc(n)}</option>`).join('')}</select></label>
      <input id="render-width" type="number" min="8" max="4096" value="256" aria-label="width" /> × <input id="render-height" type="number" min="8" max="4096" value="256" aria-label="height" /> pixels,
      <input id="render-spp" type="number" min="1" max="4096" value="16" aria-label="samples per pixel" /> samples per pixel`;
    for (const el of host.querySelectorAll('select, input')) el.addEventListener('change', changed);
    const number = (id: string) => Number(host.querySelector<HTMLInputElement>(`#${id}`)!.value);
    return {
      spec() {
        const [width, height, spp] = [number('render-width'), number('render-height'), number('render-spp')];
        if (![width, height].every((n) => Number.isInteger(n) && n >= 8 && n <= 4096)) return { why: 'Width and height are whole numbers of pixels from 8 to 4096.' };
        if (!(Number.isInteger(spp) && spp >= 1 && spp <= 4096)) return { why: 'Samples per pixel: a whole number from 1 to 4096.' };
        return { spec: { scene: host.querySelector<HTMLSelectElement>('#render-scene')!.value, width, height, spp } };
      },
    };
  },

  result: { extension: 'png', description: 'a PNG image' },

  // The picture so far (GET /api/jobs/{id}/preview: each pixel over the samples verified for
  // it), under a tile grid tinted by state: a tile clears as its first batch is verified and
  // sharpens with each further batch.
  progress(host, job) {
    const { width, height, tile = 64 } = job.spec as { width: number; height: number; tile?: number };
    if (!host.querySelector('#render-live')) {
      host.innerHTML = `<figure id="render-live" style="margin: 0.8rem 0">
          <div style="position: relative; display: inline-block; max-width: 100%; line-height: 0">
            <img id="render-preview" alt="the picture so far" width="${width}" height="${height}" style="display: block; max-width: 100%; height: auto; background: #1f2430; image-rendering: pixelated" />
            <div id="render-tiles" aria-hidden="true" style="position: absolute; inset: 0; display: grid"></div>
          </div>
          <figcaption class="note" id="render-caption"></figcaption>
        </figure>`;
      const sizes = (size: number) => Array.from({ length: Math.ceil(size / tile) }, (_, i) => `${(100 * (Math.min(size, (i + 1) * tile) - i * tile)) / size}%`).join(' ');
      const tiles = host.querySelector<HTMLElement>('#render-tiles')!;
      tiles.style.gridTemplateColumns = sizes(width);
      tiles.style.gridTemplateRows = sizes(height);
      tiles.innerHTML = '<span style="display: block"></span>'.repeat(job.grid.rows * job.grid.cols);
    }
    const cells = job.grid.rows * job.grid.cols;
    const spans = host.querySelectorAll<HTMLElement>('#render-tiles span');
    for (let c = 0; c < cells; c++) {
      const states = Array.from({ length: job.grid.layers }, (_, l) => job.units[l * cells + c]);
      const verified = states.filter((x) => x === 'verified').length;
      const state = states.includes('failed') ? 'failed' : states.includes('running') ? 'running' : verified === states.length ? 'verified' : verified ? 'refining' : 'pending';
      spans[c]!.className = state;
      spans[c]!.title = `${verified} of ${states.length} sample batches verified`;
      spans[c]!.style.background = tints[state]!;
    }
    const img = host.querySelector<HTMLImageElement>('#render-preview')!;
    host.querySelector('#render-caption')!.textContent = `${job.verified} of ${job.units.length} tiles × sample batches verified; grey: waiting, amber: rendering, light: refining.`;
    // A new picture when more is verified: loaded aside, then swapped in (no flicker); one load at a time, the newest count last.
    img.dataset.want = String(job.verified);
    const load = () => {
      const want = img.dataset.want!;
      if (want === '0' || want === img.dataset.shown || img.dataset.loading) return;
      img.dataset.loading = 'yes';
      const next = new Image();
      next.onload = () => {
        delete img.dataset.loading;
        img.src = next.src;
        img.dataset.shown = want;
        load();
      };
      next.onerror = () => delete img.dataset.loading; // the next change tries again
      next.src = `/api/jobs/${job.id}/preview?verified=${want}`;
    };
    load();
  },

  show(host, bytes) {
    const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'image/png' }));
    host.innerHTML = `<img id="render-image" alt="the rendered image" src="${url}" style="max-width: 100%; image-rendering: pixelated" />`;
  },
};
