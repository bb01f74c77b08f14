import { basename } from 'node:path';
import type { CliWorkload } from '../types.ts';
import { parseChain } from './chain.ts';

/** `supernet submit frames --frames clip.zip --filters blur:2,sobel,lut:grade.cube,resize:320x240 --wait --out out.zip`. */
export const framesCli: CliWorkload = {
  kind: 'frames',
  options: {
    frames: { type: 'string', help: 'a zip of PNG frames' },
    filters: { type: 'string', help: 'the chain, left to right: blur:SIGMA, sobel, lut:FILE.cube, resize:WxH' },
  },
  async spec(values, given, host) {
    const spec: Record<string, unknown> = { ...given };
    const zip = values.frames as string | undefined;
    if (zip) Object.assign(spec, { frames: (await host.putBlob(host.readFile(zip, '--frames'))).sha256, file: basename(zip) });
    const text = values.filters as string | undefined;
    if (text !== undefined) {
      let chain;
      try {
        chain = parseChain(text);
      } catch (err) {
        throw host.usage(`--filters: ${(err as Error).message}.`);
      }
      const filters = [];
      for (const f of chain) {
        if (f.type !== 'lut') filters.push(f);
        else {
          if (!f.file) throw host.usage('--filters: lut names its .cube file (lut:grade.cube).');
          filters.push({ type: 'lut', lut: (await host.putBlob(host.readFile(f.file, 'the LUT'))).sha256, file: basename(f.file) });
        }
      }
      spec.filters = filters;
    }
    return spec;
  },
};
