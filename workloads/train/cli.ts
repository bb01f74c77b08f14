import type { CliHost, CliWorkload } from '../types.ts';
import { parseLayers } from './layers-text.ts';

/** Stores the file an option names as a blob; its sha256. */
const putOption = async (host: CliHost, values: Record<string, unknown>, option: string) => (await host.putBlob(host.readFile(values[option] as string, `--${option}`))).sha256;

const numbers = { epochs: 'epochs', rounds: 'rounds', batch: 'batch', 'shard-rows': 'shardRows', lr: 'learningRate', momentum: 'momentum', seed: 'seed', shift: 'shift', 'local-steps': 'localSteps', 'local-lr': 'localLearningRate' } as const;

/** `supernet submit train --layers "dense:128, relu, dense:10" --epochs 3 --wait --out model.zip` (the shipped digits), or `--features x.npy --labels y.npy`. */
export const trainCli: CliWorkload = {
  kind: 'train',
  options: {
    layers: { type: 'string', help: 'the model, left to right: dense:UNITS, relu, conv:FILTERSxKERNEL, pool:SIZE' },
    features: { type: 'string', help: 'a .npy of training rows (float32, or uint8 pixels); without it, the 8,000 shipped MNIST digits' },
    labels: { type: 'string', help: 'a .npy of their classes' },
    'test-features': { type: 'string', help: 'a .npy of held-out rows, for the test accuracy' },
    'test-labels': { type: 'string', help: 'their classes' },
    epochs: { type: 'string', help: 'passes over the training rows' },
    rounds: { type: 'string', help: 'or a number of rounds (optimizer steps)' },
    batch: { type: 'string', help: 'rows per round (default 256)' },
    'shard-rows': { type: 'string', help: 'rows per unit (default 64)' },
    lr: { type: 'string', help: 'learning rate (default 0.001)' },
    optimizer: { type: 'string', help: 'adam (default) or sgd' },
    momentum: { type: 'string', help: 'SGD momentum (default 0.9)' },
    seed: { type: 'string', help: 'initial weights and shuffling (default 1)' },
    shift: { type: 'string', help: 'image rows: random shifts of up to N pixels (default 0)' },
    'local-steps': { type: 'string', help: 'communication-efficient rounds: SGD steps each unit takes on its own before the round averages (default 1); --optimizer sgd --lr 0.7 then steps on the average, as DiLoCo' },
    'local-lr': { type: 'string', help: 'the learning rate of those local steps (default 0.1)' },
  },
  async spec(values, given, host) {
    const spec: Record<string, unknown> = { data: { dataset: 'mnist' }, ...given };
    if (values.layers !== undefined) {
      try {
        spec.model = { layers: parseLayers(values.layers as string) };
      } catch (err) {
        throw host.usage(`--layers: ${(err as Error).message}.`);
      }
    }
    spec.model ??= { layers: parseLayers('dense:128, relu, dense:10') };
    for (const [option, field] of Object.entries(numbers)) {
      const text = values[option] as string | undefined;
      if (text === undefined) continue;
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw host.usage(`--${option}: "${text}" is not a number.`);
      spec[field] = n;
    }
    if (values.optimizer !== undefined) {
      if (values.optimizer !== 'adam' && values.optimizer !== 'sgd') throw host.usage(`--optimizer: "${values.optimizer}" is not adam or sgd.`);
      spec.optimizer = values.optimizer;
    }
    if (spec.epochs === undefined && spec.rounds === undefined) spec.epochs = 1;
    if (!values.features !== !values.labels) throw host.usage('give --features and --labels together.');
    if (!values['test-features'] !== !values['test-labels']) throw host.usage('give --test-features and --test-labels together.');
    if (values.features) {
      const put = (option: string) => putOption(host, values, option);
      const data: Record<string, string> = { features: await put('features'), labels: await put('labels') };
      if (values['test-features']) Object.assign(data, { testFeatures: await put('test-features'), testLabels: await put('test-labels') });
      spec.data = data;
    }
    return spec;
  },
};

/** `supernet submit infer --weights model.zip --wait --out predictions.zip` (the 2,000 held-out digits), or `--features x.npy [--labels y.npy]`. */
export const inferCli: CliWorkload = {
  kind: 'infer',
  options: {
    weights: { type: 'string', help: "a train job's result (model.zip) or a .safetensors it holds" },
    features: { type: 'string', help: 'a .npy of rows to predict; without it, the 2,000 held-out MNIST digits' },
    labels: { type: 'string', help: 'their classes, for the accuracy' },
    'rows-per-unit': { type: 'string', help: 'rows per unit (default 500)' },
  },
  async spec(values, given, host) {
    const spec: Record<string, unknown> = { data: { dataset: 'mnist' }, ...given };
    const put = (option: string) => putOption(host, values, option);
    if (values.weights) spec.weights = await put('weights');
    if (!spec.weights) throw host.usage("--weights: give a train job's result (model.zip) or a .safetensors.");
    if (values.labels && !values.features) throw host.usage('--labels goes with --features.');
    if (values.features) spec.data = { features: await put('features'), ...(values.labels ? { labels: await put('labels') } : {}) };
    const rows = values['rows-per-unit'] as string | undefined;
    if (rows !== undefined) {
      if (!/^\d+$/.test(rows)) throw host.usage(`--rows-per-unit: "${rows}" is not a whole number.`);
      spec.rowsPerUnit = Number(rows);
    }
    return spec;
  },
};
