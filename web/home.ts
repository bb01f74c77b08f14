// Live network figures on the home page, from GET /api/stats every few seconds.
const fields = ['nodes', 'gflops', 'queue', 'verified'] as const;

async function refresh() {
  try {
    const res = await fetch('/api/stats');
    if (!res.ok) return;
    const stats = (await res.json()) as { nodesOnline: number; gflops: number; unitsQueued: number; unitsVerified: number };
    const values = [stats.nodesOnline, stats.gflops.toFixed(1), stats.unitsQueued, stats.unitsVerified];
    fields.forEach((id, i) => (document.getElementById(id)!.textContent = String(values[i])));
  } catch {
    // offline for a moment: keep the last figures
  }
}

void refresh();
setInterval(refresh, 3000);

// The market: the price now and its history as a line chart (GET /api/market).
interface Market {
  price: number;
  base: number;
  bounds: { min: number; max: number };
  demand: { queueSeconds: number | null };
  supply: { gflops: number; nodes: number };
  history: { at: string; price: number }[];
}

function drawChart(svg: SVGSVGElement, m: Market) {
  const [w, h, pad] = [600, 160, 24];
  const points = m.history.length ? m.history : [{ at: new Date().toISOString(), price: m.price }];
  const lo = m.bounds.min;
  const hi = Math.max(m.bounds.min * 1.01, ...points.map((p) => p.price), m.base) * 1.05;
  const x = (i: number) => pad + (points.length === 1 ? 0 : (i / (points.length - 1)) * (w - 2 * pad));
  const y = (price: number) => h - pad - ((price - lo) / (hi - lo)) * (h - 2 * pad);
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p.price).toFixed(1)}`).join(' ');
  svg.innerHTML = `
    <line x1="${pad}" x2="${w - pad}" y1="${y(m.base)}" y2="${y(m.base)}" class="base" />
    <text x="${w - pad}" y="${y(m.base) - 4}" text-anchor="end" class="label">base ${m.base}</text>
    <path d="${path}" class="line" />
    <text x="${pad}" y="${h - 6}" class="label">${points.length} ticks</text>`;
}

async function refreshMarket() {
  try {
    const res = await fetch('/api/market');
    if (!res.ok) return;
    const m = (await res.json()) as Market;
    document.getElementById('price')!.textContent = m.price.toFixed(3);
    const queue = m.demand.queueSeconds;
    document.getElementById('market-note')!.textContent = `· ${m.supply.nodes} nodes, ${m.supply.gflops.toFixed(1)} GFLOP/s · queue ${queue === null ? 'waiting for nodes' : `${queue.toFixed(0)} s`}`;
    drawChart(document.getElementById('price-chart') as unknown as SVGSVGElement, m);
  } catch {
    // keep the last chart
  }
}

void refreshMarket();
setInterval(refreshMarket, 5000);
