import type { PortalWorkload } from '../types.ts';
import { builtinScenes } from './scene.ts';

/** render in the portal: a built-in scene, its size and samples; the result as the picture. */
export const renderPortal: PortalWorkload = {
  kind: 'render',

  inputs(host, page, changed) {
    host.innerHTML = `scene <select id="render-scene">${Object.keys(builtinScenes).map((n) => `<option>${page.esc(n)}</option>`).join('')}</select>
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

  show(host, bytes) {
    const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'image/png' }));
    host.innerHTML = `<img id="render-image" alt="the rendered image" src="${url}" style="max-width: 100%; image-rendering: pixelated" />`;
  },
};
