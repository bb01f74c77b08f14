/**
 * A chain of filters as people type it, in the CLI's --filters and the portal's field:
 * "blur:2, sobel, lut:grade.cube, resize:320x240", applied left to right. A LUT names its
 * .cube file (the portal's LUT file when it names none); the caller uploads it.
 */
export type TypedFilter = { type: 'blur'; sigma: number } | { type: 'sobel' } | { type: 'lut'; file: string } | { type: 'resize'; width: number; height: number };

export function parseChain(text: string): TypedFilter[] {
  const parts = text.split(',').map((p) => p.trim()).filter(Boolean);
  if (!parts.length) throw new Error('name at least one filter: blur:SIGMA, sobel, lut:FILE.cube or resize:WxH');
  return parts.map((part) => {
    const [name, arg = ''] = part.split(/:(.*)/s).map((s) => s.trim()) as [string, string?];
    switch (name.toLowerCase()) {
      case 'blur': {
        const sigma = Number(arg);
        if (!arg || !(sigma >= 0.3 && sigma <= 20)) throw new Error(`"${part}": blur takes its sigma in pixels, from 0.3 to 20 (blur:2)`);
        return { type: 'blur', sigma };
      }
      case 'sobel':
        if (arg) throw new Error(`"${part}": sobel takes nothing after it`);
        return { type: 'sobel' };
      case 'lut':
        return { type: 'lut', file: arg };
      case 'resize': {
        const m = /^(\d+)\s*[x×]\s*(\d+)$/i.exec(arg);
        const [width, height] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
        if (!(width >= 1 && height >= 1 && width <= 4096 && height <= 4096)) throw new Error(`"${part}": resize takes WIDTHxHEIGHT, each from 1 to 4096 (resize:320x240)`);
        return { type: 'resize', width, height };
      }
      default:
        throw new Error(`"${part}" is not a filter: blur:SIGMA, sobel, lut:FILE.cube or resize:WxH`);
    }
  });
}
