import { basename, dirname, join } from 'node:path';
import type { CliWorkload } from '../types.ts';
import { builtinScenes } from './scene.ts';

/**
 * `supernet submit render --scene cornell|s.json [--mesh m.glb …] --width 512 --height 512 --spp 64 --out image.png`.
 * A scene's meshes name their files (`"file": "m.glb"`); each is read from the --mesh of that
 * name, or else beside the scene's JSON, and uploaded: the spec carries its sha256.
 */
export const renderCli: CliWorkload = {
  kind: 'render',
  options: {
    scene: { type: 'string', help: `a built-in scene (${Object.keys(builtinScenes).join(', ')}) or a scene's JSON file` },
    mesh: { type: 'string', multiple: true, help: 'an .obj or .glb file a scene mesh names ("file")' },
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
    await uploadMeshes(spec.scene, (values.mesh as string[] | undefined) ?? [], typeof scene === 'string' && !(scene in builtinScenes) ? dirname(scene) : '.', host);
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

async function uploadMeshes(scene: unknown, given: string[], beside: string, host: Parameters<CliWorkload['spec']>[2]) {
  const meshes = (typeof scene === 'object' && scene && (scene as { meshes?: unknown }).meshes) || [];
  if (!Array.isArray(meshes)) return; // the coordinator says what is wrong
  const named = new Set<string>();
  for (const [i, mesh] of meshes.entries()) {
    if (typeof mesh !== 'object' || !mesh || mesh.blob !== undefined) continue;
    if (typeof mesh.file !== 'string') throw host.usage(`the scene's meshes[${i}] names no file ("file": "m.glb") and gives no blob.`);
    named.add(mesh.file);
    const path = given.find((p) => p === mesh.file || basename(p) === basename(mesh.file)) ?? join(beside, mesh.file);
    mesh.blob = (await host.putBlob(host.readFile(path, `meshes[${i}] (${mesh.file})`))).sha256;
  }
  for (const p of given) if (![...named].some((f) => p === f || basename(p) === basename(f))) throw host.usage(`--mesh ${p}: the scene names no mesh file "${basename(p)}" (add {"file": "${basename(p)}", "material": …} to its meshes).`);
}
