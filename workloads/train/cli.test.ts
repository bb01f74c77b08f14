import { describe, expect, it } from 'vitest';
import type { CliHost } from '../types.ts';
import { inferCli, trainCli } from './cli.ts';
import { trainSpec } from './coordinator.ts';
import { layersText, parseLayers } from './layers-text.ts';

const host = (files: Record<string, string> = {}): CliHost & { stored: string[] } => {
  const stored: string[] = [];
  return {
    stored,
    readFile: (path) => {
      if (!(path in files)) throw new Error(`no file ${path}`);
      return new TextEncoder().encode(files[path]);
    },
    putBlob: async (bytes) => {
      stored.push(new TextDecoder().decode(bytes));
      return { sha256: String(stored.length).padStart(64, '0') };
    },
    usage: (message) => new Error(`usage: ${message}`),
  };
};

describe('supernet submit train', () => {
  it('reads the model as layers left to right, and writes it back the same', () => {
    const text = 'conv:16x5, relu, pool:2, dense:10';
    expect(parseLayers(text)).toEqual([{ type: 'conv2d', filters: 16, kernel: 5 }, { type: 'relu' }, { type: 'maxpool', size: 2 }, { type: 'dense', units: 10 }]);
    expect(layersText(parseLayers(text))).toBe(text);
    expect(() => parseLayers('dense:128, softmax')).toThrow(/"softmax" is not a layer: dense:UNITS/);
    expect(() => parseLayers('conv:16')).toThrow(/"conv:16" is not a layer/);
  });

  it('makes a spec the coordinator takes from its options: the shipped digits by default, uploaded .npy files when given', async () => {
    const spec = await trainCli.spec({ layers: 'dense:64, relu, dense:10', epochs: '2', lr: '0.01', optimizer: 'sgd', 'shard-rows': '32' }, {}, host());
    expect(spec).toEqual({ data: { dataset: 'mnist' }, model: { layers: [{ type: 'dense', units: 64 }, { type: 'relu' }, { type: 'dense', units: 10 }] }, epochs: 2, learningRate: 0.01, optimizer: 'sgd', shardRows: 32 });
    expect(trainSpec.safeParse(spec).success).toBe(true);
    const files = host({ 'x.npy': 'features', 'y.npy': 'labels' });
    const uploaded = await trainCli.spec({ features: 'x.npy', labels: 'y.npy', rounds: '10' }, {}, files);
    expect(uploaded.data).toEqual({ features: '1'.padStart(64, '0'), labels: '2'.padStart(64, '0') });
    expect([uploaded.rounds, uploaded.epochs, files.stored]).toEqual([10, undefined, ['features', 'labels']]);
  });

  it('says what is wrong with an option', async () => {
    await expect(trainCli.spec({ layers: 'dense:0' }, {}, host())).rejects.toThrow(/^usage: --layers: "dense:0" is not a layer/);
    await expect(trainCli.spec({ epochs: 'many' }, {}, host())).rejects.toThrow('usage: --epochs: "many" is not a number.');
    await expect(trainCli.spec({ optimizer: 'rmsprop' }, {}, host())).rejects.toThrow('usage: --optimizer: "rmsprop" is not adam or sgd.');
    await expect(trainCli.spec({ features: 'x.npy' }, {}, host())).rejects.toThrow('usage: give --features and --labels together.');
  });

  it('infer: uploads the weights and the rows, or predicts the held-out digits', async () => {
    const files = host({ 'model.zip': 'weights', 'x.npy': 'rows' });
    expect(await inferCli.spec({ weights: 'model.zip', 'rows-per-unit': '250' }, {}, files)).toEqual({ data: { dataset: 'mnist' }, weights: '1'.padStart(64, '0'), rowsPerUnit: 250 });
    expect((await inferCli.spec({ weights: 'model.zip', features: 'x.npy' }, {}, files)).data).toEqual({ features: '3'.padStart(64, '0') });
    await expect(inferCli.spec({}, {}, host())).rejects.toThrow("usage: --weights: give a train job's result (model.zip) or a .safetensors.");
    await expect(inferCli.spec({ weights: 'model.zip', labels: 'y.npy' }, {}, files)).rejects.toThrow('usage: --labels goes with --features.');
  });
});
