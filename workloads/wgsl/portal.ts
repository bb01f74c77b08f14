import type { Diagnostic } from '@codemirror/lint';
import type { EditorView } from 'codemirror';
import { parseNpyArray } from '../../shaders/npy.ts';
import type { PortalWorkload } from '../types.ts';
import { mandelbrot, mandelbrotSize } from './examples.ts';

/** Waits this long after the last keystroke before asking for an estimate (each one compiles on the coordinator). */
const typingPauseMs = 400;

/** wgsl in the portal: the kernel in an editor (CodeMirror) with the compiler's messages inline, its input files, the output's type and length. */
export const wgslPortal: PortalWorkload = {
  kind: 'wgsl',

  inputs(host, page, changed) {
    host.innerHTML = `<div id="wgsl-editor" style="border: 1px solid #d0d5e2; border-radius: 4px; margin: 0.4rem 0; max-height: 420px; overflow: auto"></div>
      <label>inputs (.npy) <input id="wgsl-inputs" type="file" accept=".npy" multiple /></label>
      output <select id="wgsl-element" aria-label="output element type"><option>u32</option><option>f32</option><option>i32</option></select>
      × <input id="wgsl-length" type="number" min="1" value="${mandelbrotSize.width * mandelbrotSize.height}" aria-label="output length" /> elements
      in <input id="wgsl-units" type="number" min="1" max="1024" value="8" aria-label="units" /> units
      <span class="note">loop budget <input id="wgsl-budget" type="number" min="1" value="1000" aria-label="loop budget" /> iterations an invocation</span>
      <p id="wgsl-note" class="note" aria-live="polite"></p>`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The editor (CodeMirror, ~300 KB) loads with the first WGSL form, not with the portal: a
    // plain text area holds the kernel meanwhile, and its text goes over.
    const area = document.createElement('textarea');
    area.value = mandelbrot;
    area.rows = 20;
    area.spellcheck = false;
    area.setAttribute('aria-label', 'WGSL kernel');
    area.style.cssText = 'width: 100%; font-family: monospace; border: 0';
    area.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(changed, typingPauseMs);
    });
    host.querySelector('#wgsl-editor')!.append(area);
    let editor: EditorView | null = null;
    let marks: Diagnostic[] = [];
    let setDiagnostics: typeof import('@codemirror/lint').setDiagnostics | null = null;
    void Promise.all([import('codemirror'), import('@codemirror/lint'), import('@iizukak/codemirror-lang-wgsl')]).then(([cm, lint, lang]) => {
      if (!area.isConnected) return; // the page moved on meanwhile
      setDiagnostics = lint.setDiagnostics;
      editor = new cm.EditorView({
        doc: area.value,
        parent: host.querySelector('#wgsl-editor')!,
        extensions: [
          cm.basicSetup,
          lang.wgsl(),
          lint.lintGutter(),
          cm.EditorView.updateListener.of((u) => {
            if (!u.docChanged) return;
            clearTimeout(timer);
            timer = setTimeout(changed, typingPauseMs);
          }),
        ],
      });
      area.remove();
      if (marks.length) editor.dispatch(lint.setDiagnostics(editor.state, marks));
      (host as HTMLElement & { editor?: EditorView }).editor = editor; // for tests and the console
    });
    const source = () => (editor ? editor.state.doc.toString() : area.value);
    // Inputs, in the order chosen: each uploaded as it is picked.
    let inputs: { name: string; sha256?: string; why?: string }[] = [];
    host.querySelector<HTMLInputElement>('#wgsl-inputs')!.addEventListener('change', async (e) => {
      const files = [...((e.target as HTMLInputElement).files ?? [])];
      inputs = files.map((f) => ({ name: f.name, why: `${f.name} is uploading…` }));
      changed();
      await Promise.all(
        files.map(async (file, i) => {
          const bytes = new Uint8Array(await file.arrayBuffer());
          try {
            const npy = parseNpyArray(bytes);
            inputs[i] = { name: file.name, sha256: (await page.putBlob(bytes)).sha256, why: undefined };
            host.querySelector('#wgsl-note')!.textContent = `${file.name}: ${npy.shape.join('×')} ${npy.element}`;
          } catch (err) {
            inputs[i] = { name: file.name, why: `${file.name}: ${(err as Error).message}` };
          }
        }),
      );
      changed();
    });
    for (const el of host.querySelectorAll('select, input[type=number]')) el.addEventListener('change', changed);
    const number = (id: string) => Number(host.querySelector<HTMLInputElement>(`#${id}`)!.value);
    return {
      spec() {
        const waiting = inputs.find((i) => i.why);
        if (waiting) return { why: waiting.why! };
        const length = number('wgsl-length'), units = number('wgsl-units'), loopBudget = number('wgsl-budget');
        if (!(Number.isInteger(length) && length >= 1)) return { why: 'The output length is a whole number of elements.' };
        if (!(Number.isInteger(units) && units >= 1 && units <= 1024)) return { why: 'Units: a whole number from 1 to 1024.' };
        return {
          spec: {
            source: source(),
            inputs: inputs.map((i) => ({ blob: i.sha256! })),
            output: { element: host.querySelector<HTMLSelectElement>('#wgsl-element')!.value, length },
            units,
            loopBudget,
          },
        };
      },
      // The compiler's messages as marks in the editor, at their line and column.
      refused(error) {
        const text = source();
        const lines = text.split('\n');
        const starts = lines.map((_, i) => lines.slice(0, i).reduce((n, l) => n + l.length + 1, 0));
        marks = (error?.details ?? [])
          .filter((d) => d.line >= 1 && d.line <= lines.length)
          .map((d) => {
            const [start, length] = [starts[d.line - 1]!, lines[d.line - 1]!.length];
            const from = Math.min(start + length, start + Math.max(0, d.column - 1));
            return { from, to: Math.max(from, Math.min(start + length, from + 1)), severity: 'error', message: d.message };
          });
        if (editor && setDiagnostics) editor.dispatch(setDiagnostics(editor.state, marks));
      },
    };
  },

  result: { extension: 'npy', description: 'the output array as .npy' },

  show(host, bytes, page) {
    const out = parseNpyArray(bytes);
    const values = out.element === 'f32' ? new Float32Array(out.bytes.buffer, out.bytes.byteOffset, out.bytes.byteLength / 4) : out.element === 'i32' ? new Int32Array(out.bytes.buffer, out.bytes.byteOffset, out.bytes.byteLength / 4) : new Uint32Array(out.bytes.buffer, out.bytes.byteOffset, out.bytes.byteLength / 4);
    let [min, max, sum] = [Infinity, -Infinity, 0];
    for (const v of values) [min, max, sum] = [Math.min(min, v), Math.max(max, v), sum + v];
    host.innerHTML = `<p class="note" id="wgsl-result">${page.esc(`${values.length} ${out.element} elements: min ${min}, max ${max}, mean ${(sum / values.length).toPrecision(6)}`)}</p>
      <p><code>${page.esc([...values.subarray(0, 12)].map((v) => (out.element === 'f32' ? v.toPrecision(6) : String(v))).join(', '))}${values.length > 12 ? ', …' : ''}</code></p>`;
  },
};
