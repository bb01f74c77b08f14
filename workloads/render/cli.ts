import type { CliWorkload } from '../types.ts';
import { builtinScenes } from './scene.ts';

/** `supernet submit render --scene cornell|s.json --width 512 --height 512 --spp 64 --out image.png`. */
export const renderCli: CliWorkload = {
  kind: 'render',
  options: {
    scene: { type: 'string', help: `a built-in scene (${Object.keys(builtinScenes).join(', ')}) or a scene's JSON file` },
    width: { type: 'string', help: 'image width in pixels' },
    height: { type: 'string', help: 'image height in pixels' },
    spp: { type: 'string', help: 'samples per pixel' },
    tile: { type: 'string', help: 'tile side in pixels (default 64)' },
    'samples-per-unit': { type: 'string', help: 'samples of a tile per unit' },
    seed: { type: 'string', help: 'the random streams\' seed' },
    output: { type: 'string', help: 'png (default) or npy (linear radiance)' },
  },
  async spec(values, given, host) {
    const spec: Record<string, unknown> = { ...given };
    const scene = values.scene as string | undefined;
    if (scene) {
      if (scene in builtinScenes) spec.scene = scene;
      else {
        try {
          spec.scene = JSON.parse(new TextDecoder().decode(host.readFile(scene, '--scene')));
        } catch (err) {
          if (err instanceof SyntaxError) throw host.usage(`--scene ${scene} is not JSON: ${err.message}`);
          throw err;
        }
      }
    }
    for (const [flag, field] of [['width', 'width'], ['height', 'height'], ['spp', 'spp'], ['tile', 'tile'], ['samples-per-unit', 'samplesPerUnit'], ['seed', 'seed']] as const) {
      const v = values[flag] as string | undefined;
      if (v === undefined) continue;
      const n = Number(v);
      if (!Number.isInteger(n)) throw host.usage(`--${flag} takes a whole number, not "${v}".`);
      spec[field] = n;
    }
    if (values.output !== undefined) spec.output = values.output;
    return spec;
  },
};
