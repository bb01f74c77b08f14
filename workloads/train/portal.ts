import { unzipSync } from 'fflate';
import type { PortalWorkload } from '../types.ts';
import { uploadOnChange } from '../portal-uploads.ts';
import { parseLayers } from './layers-text.ts';
import { ownBytes } from '../../shaders/bytes.ts';

interface Point {
  round: number;
  loss: number;
  accuracy: number;
}

const presets: Record<string, string> = {
  mlp: 'dense:128, relu, dense:10',
  cnn: 'conv:16x5, relu, pool:2, dense:10',
};

/**
 * The loss (left axis, from 0 to its largest) and the accuracy (right axis, 0-100%) per round,
 * as an SVG line chart; the test accuracy, once known, as a dashed line.
 */
export function curveSvg(curve: Point[], rounds: number, testAccuracy: number | null): string {
  const [w, h, left, right, top, bottom] = [600, 220, 44, 44, 12, 28];
  const most = Math.max(1e-6, ...curve.map((p) => p.loss));
  const x = (round: number) => left + ((w - left - right) * round) / Math.max(1, rounds);
  const yLoss = (v: number) => top + (h - top - bottom) * (1 - v / most);
  const yAcc = (v: number) => top + (h - top - bottom) * (1 - v);
  const line = (f: (p: Point) => number) => curve.map((p, i) => `${i ? 'L' : 'M'}${x(p.round).toFixed(1)},${f(p).toFixed(1)}`).join('');
  const test = testAccuracy === null ? '' : `<line x1="${left}" x2="${w - right}" y1="${yAcc(testAccuracy)}" y2="${yAcc(testAccuracy)}" stroke="#2a7" stroke-dasharray="4 3" /><text x="${w - right - 4}" y="${yAcc(testAccuracy) - 4}" text-anchor="end" font-size="11" fill="#2a7">test ${(100 * testAccuracy).toFixed(1)}%</text>`;
  return `<svg id="train-curve" viewBox="0 0 ${w} ${h}" role="img" aria-label="loss and accuracy per round" style="width: 100%; max-width: ${w}px">
    <rect x="${left}" y="${top}" width="${w - left - right}" height="${h - top - bottom}" fill="none" stroke="#ccc" />
    <text x="4" y="${top + 10}" font-size="11" fill="#c33">loss</text><text x="4" y="${h - bottom}" font-size="11" fill="#c33">0</text><text x="4" y="${top + 24}" font-size="11" fill="#c33">${most.toFixed(2)}</text>
    <text x="${w - right + 4}" y="${top + 10}" font-size="11" fill="#36c">100%</text><text x="${w - right + 4}" y="${h - bottom}" font-size="11" fill="#36c">0%</text>
    <text x="${left}" y="${h - 8}" font-size="11">round 1</text><text x="${w - right}" y="${h - 8}" font-size="11" text-anchor="end">${rounds}</text>
    <path d="${line((p) => yLoss(p.loss))}" fill="none" stroke="#c33" stroke-width="1.5" />
    <path d="${line((p) => yAcc(p.accuracy))}" fill="none" stroke="#36c" stroke-width="1.5" />
    ${test}
  </svg>`;
}

const summary = (curve: Point[], rounds: number, testAccuracy: number | null, testRows: number) => {
  const last = curve.at(-1);
  return `${last ? `Round ${last.round} of ${rounds}: loss ${last.loss.toFixed(3)}, ${(100 * last.accuracy).toFixed(1)}% of the round's batch right` : `Round 1 of ${rounds} is at work`}${testAccuracy !== null ? ` · test accuracy ${(100 * testAccuracy).toFixed(2)}% on ${testRows} held-out rows` : ''}.`;
};

/** train in the portal: the model as text (or a preset), the shipped digits or uploaded .npy; the curve live. */
export const trainPortal: PortalWorkload = {
  kind: 'train',

  inputs(host, page, changed) {
    host.innerHTML = `<label>model <select id="train-preset"><option value="mlp">MLP</option><option value="cnn">CNN</option><option value="custom">my own layers</option></select></label>
      <input id="train-layers" value="${presets.mlp}" size="36" aria-label="layers, left to right" />
      <label>data <select id="train-data"><option value="mnist">the 8,000 shipped handwritten digits</option><option value="upload">my .npy files</option></select></label>
      <span id="train-files" hidden><label>features <input id="train-features" type="file" accept=".npy" /></label> <label>labels <input id="train-labels" type="file" accept=".npy" /></label></span>
      <label>epochs <input id="train-epochs" type="number" min="0.01" step="any" value="3" /></label>
      <label>batch <input id="train-batch" type="number" min="1" value="256" /></label>
      <label>learning rate <input id="train-lr" type="number" min="0" step="any" value="0.003" /></label>
      <label>optimizer <select id="train-optimizer"><option>adam</option><option>sgd</option></select></label>
      <label title="each unit takes this many SGD steps on its own before the round averages the changes: fewer, larger messages (then the optimizer above steps on the average: sgd at 0.7 is DiLoCo's)">local steps <input id="train-local" type="number" min="1" max="64" value="1" /></label>
      <span class="note">layers: dense:UNITS, relu, conv:FILTERSxKERNEL, pool:SIZE</span>`;
    const $ = <T extends HTMLElement>(id: string) => host.querySelector<T>(`#${id}`)!;
    $<HTMLSelectElement>('train-preset').addEventListener('change', (e) => {
      const preset = presets[(e.target as HTMLSelectElement).value];
      if (preset) $<HTMLInputElement>('train-layers').value = preset;
      changed();
    });
    $<HTMLSelectElement>('train-data').addEventListener('change', (e) => {
      $('train-files').hidden = (e.target as HTMLSelectElement).value !== 'upload';
      changed();
    });
    const files = uploadOnChange({ features: $<HTMLInputElement>('train-features'), labels: $<HTMLInputElement>('train-labels') }, page, changed);
    for (const id of ['train-layers', 'train-epochs', 'train-batch', 'train-lr', 'train-optimizer', 'train-local']) $(id).addEventListener('change', changed);
    return {
      spec() {
        let layers;
        try {
          layers = parseLayers($<HTMLInputElement>('train-layers').value);
        } catch (err) {
          return { why: `Layers: ${(err as Error).message}.` };
        }
        let data: Record<string, unknown> = { dataset: 'mnist' };
        if ($<HTMLSelectElement>('train-data').value === 'upload') {
          for (const which of ['features', 'labels'] as const) {
            if (files[which]?.why) return { why: files[which]!.why! };
            if (!files[which]) return { why: `Choose the ${which} .npy.` };
          }
          data = { features: files.features!.sha256!, labels: files.labels!.sha256! };
        }
        const number = (id: string) => Number($<HTMLInputElement>(id).value);
        return { spec: { model: { layers }, data, epochs: number('train-epochs'), batch: number('train-batch'), learningRate: number('train-lr'), optimizer: $<HTMLSelectElement>('train-optimizer').value, localSteps: number('train-local'), ...(data.dataset ? { shift: 1 } : {}) } };
      },
    };
  },

  progress(host, job) {
    const live = job.live as { curve: Point[]; rounds: number; testAccuracy: number | null; testRows: number } | null;
    // Once done, the result below draws the whole curve.
    if (!live || job.state === 'done') return void (host.innerHTML = '');
    host.innerHTML = `<div id="train-live">${curveSvg(live.curve, live.rounds, live.testAccuracy)}<p class="note" id="train-summary">${summary(live.curve, live.rounds, live.testAccuracy, live.testRows)}</p></div>`;
  },

  result: { extension: 'zip', description: 'a zip of the weights (model.safetensors, a .npy per tensor) and training.json (the curve, the test accuracy)' },

  show(host, bytes, page) {
    const files = unzipSync(bytes);
    const t = JSON.parse(new TextDecoder().decode(files['training.json']!)) as { curve: Point[]; rounds: number; testAccuracy: number | null; testRows: number };
    host.innerHTML = `<div id="train-result">${curveSvg(t.curve, t.rounds, t.testAccuracy)}<p id="train-final">${page.esc(summary(t.curve, t.rounds, t.testAccuracy, t.testRows))}</p><p class="note">In the zip: ${Object.keys(files).map((f) => `<code>${page.esc(f)}</code>`).join(', ')}.</p></div>`;
  },
};

/** infer in the portal: the weights (a train job's zip or its .safetensors) and the rows; the accuracy and the first predictions. */
export const inferPortal: PortalWorkload = {
  kind: 'infer',

  inputs(host, page, changed) {
    host.innerHTML = `<label>weights <input id="infer-weights" type="file" accept=".zip,.safetensors" /></label>
      <label>rows <select id="infer-data"><option value="mnist">the 2,000 held-out digits</option><option value="upload">my .npy</option></select></label>
      <span id="infer-files" hidden><label>features <input id="infer-features" type="file" accept=".npy" /></label> <label>labels (optional) <input id="infer-labels" type="file" accept=".npy" /></label></span>
      <span class="note">a train job's result (its zip) or the model.safetensors in it</span>`;
    const $ = <T extends HTMLElement>(id: string) => host.querySelector<T>(`#${id}`)!;
    const files = uploadOnChange({ weights: $<HTMLInputElement>('infer-weights'), features: $<HTMLInputElement>('infer-features'), labels: $<HTMLInputElement>('infer-labels') }, page, changed);
    $<HTMLSelectElement>('infer-data').addEventListener('change', (e) => {
      $('infer-files').hidden = (e.target as HTMLSelectElement).value !== 'upload';
      changed();
    });
    return {
      spec() {
        if (files.weights?.why) return { why: files.weights.why };
        if (!files.weights) return { why: "Choose the weights: a train job's result." };
        if ($<HTMLSelectElement>('infer-data').value === 'mnist') return { spec: { weights: files.weights.sha256!, data: { dataset: 'mnist' } } };
        for (const which of ['features', 'labels'] as const) if (files[which]?.why) return { why: files[which]!.why! };
        if (!files.features) return { why: 'Choose the features .npy.' };
        return { spec: { weights: files.weights.sha256!, data: { features: files.features.sha256!, ...(files.labels ? { labels: files.labels.sha256! } : {}) } } };
      },
    };
  },

  result: { extension: 'zip', description: 'a zip of predictions.npy (int32), scores.npy (float32 rows × classes), summary.json and, for up to 1,000 rows, predictions.json' },

  show(host, bytes, page) {
    const files = unzipSync(bytes);
    const s = JSON.parse(new TextDecoder().decode(files['summary.json']!)) as { rows: number; classes: number; accuracy: number | null };
    const predictions = new Int32Array(ownBytes(files['predictions.npy']!.subarray(-4 * s.rows)).buffer);
    host.innerHTML = `<p id="infer-summary">${s.rows} rows predicted${s.accuracy === null ? '' : `: ${(100 * s.accuracy).toFixed(2)}% right`}.</p><p class="note">The first: ${page.esc([...predictions.slice(0, 20)].join(', '))}${s.rows > 20 ? '…' : ''}</p>`;
  },
};
