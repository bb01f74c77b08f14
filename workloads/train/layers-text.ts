import { layerSchema, type Layer } from './model.ts';

/**
 * A model written as the CLI and the portal take it: layers left to right, `dense:UNITS`,
 * `relu`, `conv:FILTERSxKERNEL` and `pool:SIZE` ("conv:16x5, relu, pool:2, dense:10").
 */
export function parseLayers(text: string): Layer[] {
  const parts = text.split(',').map((p) => p.trim()).filter(Boolean);
  if (!parts.length) throw new Error('no layers: write them left to right, as dense:128, relu, dense:10');
  return parts.map((part) => {
    const [name, arg] = part.split(':').map((s) => s.trim());
    let layer: unknown;
    if (name === 'dense') layer = { type: 'dense', units: Number(arg) };
    else if (name === 'relu' && arg === undefined) layer = { type: 'relu' };
    else if (name === 'conv') {
      const m = /^(\d+)x(\d+)$/.exec(arg ?? '');
      layer = m ? { type: 'conv2d', filters: Number(m[1]), kernel: Number(m[2]) } : null;
    } else if (name === 'pool') layer = { type: 'maxpool', size: Number(arg) };
    const parsed = layerSchema.safeParse(layer);
    if (!parsed.success) throw new Error(`"${part}" is not a layer: dense:UNITS (1-4096), relu, conv:FILTERSxKERNEL (up to 256x7) or pool:SIZE (2-4)`);
    return parsed.data;
  });
}

/** The layers as parseLayers reads them. */
export const layersText = (layers: Layer[]) =>
  layers.map((l) => (l.type === 'dense' ? `dense:${l.units}` : l.type === 'relu' ? 'relu' : l.type === 'conv2d' ? `conv:${l.filters}x${l.kernel}` : `pool:${l.size}`)).join(', ');
