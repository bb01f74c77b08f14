/** A small line chart in an <svg viewBox="0 0 600 160">: the pages' price and throughput charts. */
export interface ChartOptions {
  /** A dashed reference line (the base price), with its label. */
  reference?: { value: number; label: string };
  /** The y axis starts here (default 0). */
  min?: number;
  /** Under the chart, left: what the x axis spans. */
  caption: string;
  /** The latest value, written at the right end. */
  unit?: string;
}

export function drawLineChart(svg: SVGSVGElement, values: number[], opts: ChartOptions) {
  const [w, h, pad] = [600, 160, 24];
  const points = values.length ? values : [0];
  const lo = opts.min ?? 0;
  const hi = Math.max(lo + 1e-9, ...points, opts.reference?.value ?? lo) * 1.1;
  const x = (i: number) => pad + (points.length === 1 ? 0 : (i / (points.length - 1)) * (w - 2 * pad));
  const y = (v: number) => h - pad - ((v - lo) / (hi - lo)) * (h - 2 * pad);
  const path = points.map((v, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const ref = opts.reference;
  const last = points[points.length - 1]!;
  svg.innerHTML = `
    ${ref ? `<line x1="${pad}" x2="${w - pad}" y1="${y(ref.value)}" y2="${y(ref.value)}" class="base" />
    <text x="${w - pad}" y="${y(ref.value) - 4}" text-anchor="end" class="label">${ref.label}</text>` : ''}
    <path d="${path}" class="line" />
    <text x="${pad}" y="${h - 6}" class="label">${opts.caption}</text>
    ${opts.unit ? `<text x="${w - pad}" y="${h - 6}" text-anchor="end" class="label">now ${last.toFixed(2)} ${opts.unit}</text>` : ''}
    <text x="${pad}" y="${pad - 8}" class="label">${hi.toFixed(hi < 10 ? 2 : 0)}</text>`;
}

/**
 * Bars in pairs, one pair a day (usage: spent and earned), in an <svg viewBox="0 0 600 160">;
 * each bar has a <title> with its figure, and the tallest figure labels the axis.
 */
export function drawPairedBars(svg: SVGSVGElement, rows: { label: string; a: number; b: number }[], opts: { a: string; b: string; format: (n: number) => string }) {
  const [w, h, pad] = [600, 160, 24];
  const hi = Math.max(1e-9, ...rows.flatMap((r) => [r.a, r.b])) * 1.1;
  const slot = (w - 2 * pad) / Math.max(1, rows.length);
  const bar = Math.max(1, slot / 2 - 1);
  const y = (v: number) => h - pad - (v / hi) * (h - 2 * pad);
  const bars = rows.map((r, i) => {
    const x = pad + i * slot;
    return `<rect class="a" x="${x.toFixed(1)}" y="${y(r.a).toFixed(1)}" width="${bar.toFixed(1)}" height="${(h - pad - y(r.a)).toFixed(1)}"><title>${r.label}: ${opts.format(r.a)} ${opts.a}</title></rect>
      <rect class="b" x="${(x + bar).toFixed(1)}" y="${y(r.b).toFixed(1)}" width="${bar.toFixed(1)}" height="${(h - pad - y(r.b)).toFixed(1)}"><title>${r.label}: ${opts.format(r.b)} ${opts.b}</title></rect>`;
  });
  svg.innerHTML = `${bars.join('')}
    <text x="${pad}" y="${h - 6}" class="label">${rows[0]?.label ?? ''}</text>
    <text x="${w - pad}" y="${h - 6}" text-anchor="end" class="label">${rows[rows.length - 1]?.label ?? ''}</text>
    <text x="${pad}" y="${pad - 8}" class="label">${opts.format(hi / 1.1)}</text>`;
}

/** GET a JSON document, or null when it fails (the pages keep their last figures). */
export async function getJson<T>(path: string, headers: Record<string, string> = {}): Promise<T | null> {
  try {
    const res = await fetch(path, { headers });
    return res.ok ? ((await res.json()) as T) : null;
  } catch {
    return null;
  }
}
