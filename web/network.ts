// The network page: nodes online, aggregate GFLOP/s, jobs running, queue depth, and the price of compute.
import { drawLineChart, getJson } from './chart.ts';
import { formatBytes, formatCredits } from '../server/ledger/format.ts';

interface Stats {
  nodesOnline: number;
  gflops: number;
  jobsRunning: number;
  unitsQueued: number;
  unitsVerified: number;
  verification: { valid: number; invalid: number; expired: number };
  blobs: { fromPeers: number; fromCoordinator: number; toPeers: number };
}

interface Market {
  price: number;
  base: number;
  bounds: { min: number; max: number };
  demand: { queueSeconds: number | null };
  supply: { gflops: number; nodes: number };
  history: { at: string; price: number }[];
}

const text = (id: string, value: string | number) => (document.getElementById(id)!.textContent = String(value));
const gflopsHistory: number[] = [];

async function refresh() {
  const stats = await getJson<Stats>('/api/stats');
  if (!stats) return;
  text('nodes', stats.nodesOnline);
  text('gflops', stats.gflops.toFixed(1));
  text('jobs', stats.jobsRunning);
  text('queue', stats.unitsQueued);
  text('verified', stats.unitsVerified);
  text('invalid', stats.verification.invalid);
  const { fromPeers, fromCoordinator } = stats.blobs;
  text('blobs-peers', formatBytes(fromPeers));
  text('blobs-coordinator', formatBytes(fromCoordinator));
  text('blobs-share', fromPeers + fromCoordinator ? `${Math.round((100 * fromPeers) / (fromPeers + fromCoordinator))}%` : '–');
  gflopsHistory.push(stats.gflops);
  if (gflopsHistory.length > 120) gflopsHistory.shift();
  drawLineChart(document.getElementById('gflops-chart') as unknown as SVGSVGElement, gflopsHistory, { caption: `last ${gflopsHistory.length * 3} s`, unit: 'GFLOP/s' });
}

async function refreshMarket() {
  const m = await getJson<Market>('/api/market');
  if (!m) return;
  text('price', formatCredits(m.price));
  const queue = m.demand.queueSeconds;
  text('market-note', `· ${m.supply.nodes} nodes, ${m.supply.gflops.toFixed(1)} GFLOP/s · queue ${queue === null ? 'waiting for nodes' : `${queue.toFixed(0)} s`}`);
  const prices = m.history.length ? m.history.map((p) => p.price) : [m.price];
  drawLineChart(document.getElementById('price-chart') as unknown as SVGSVGElement, prices, { min: m.bounds.min, reference: { value: m.base, label: `base ${formatCredits(m.base)}` }, caption: `${prices.length} ticks` });
}

void refresh();
setInterval(refresh, 3000);
void refreshMarket();
setInterval(refreshMarket, 5000);
