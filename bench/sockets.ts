// npm run bench (its sockets section; alone: npm run bench:sockets). How many idle node sockets
// one coordinator holds and what each costs. Nodes connect over real WebSockets to a coordinator
// process (`supernet serve`, PGlite), say hello, and then only heartbeat, every heartbeatMs of
// their welcome as real nodes do (no work is queued). Memory per socket is the coordinator's
// growth from a first wave of sockets to all of them, over the sockets added; idle CPU is its
// cores busy over a window while holding them all; /api/health's latency meanwhile says whether
// it still answers. Writes bench/results/sockets.{json,md}.
//
// Knobs: BENCH_SOCKETS (default 10000), BENCH_SOCKETS_SECONDS (the idle window, default 15).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { serve, usage } from './processes.ts';

const total = Number(process.env.BENCH_SOCKETS ?? 10_000);
const windowSeconds = Number(process.env.BENCH_SOCKETS_SECONDS ?? 15);
const firstWave = Math.min(500, Math.floor(total / 10));
const started = performance.now();

const { child, url } = await serve({ SUPERNET_DATA: mkdtempSync(join(tmpdir(), 'supernet-bench-sockets-')) });
const pid = child.pid!;
const wsUrl = url.replace(/^http/, 'ws') + '/api/nodes/ws';
const sockets: WebSocket[] = [];
const beats: NodeJS.Timeout[] = [];
const hello = JSON.stringify({ type: 'hello', protocol: 1, capabilities: { adapter: { vendor: 'bench', architecture: 'cpu', device: 'idle', description: 'an idle node' }, features: [], gflops: 1, kinds: ['matmul'] } });
const heartbeat = JSON.stringify({ type: 'heartbeat', attempts: [] });

/** One node: connected, welcomed, then heartbeating until the end. */
function connectOne(i: number): Promise<void> {
  return new Promise((done, fail) => {
    // Source addresses spread over 127.0.0.0/8, as nodes come from many hosts.
    const ws = new WebSocket(wsUrl, { localAddress: `127.0.${(i >> 8) & 255}.${(i & 255) || 1}` });
    ws.once('error', fail);
    ws.once('open', () => ws.send(hello));
    ws.once('message', (data) => {
      const welcome = JSON.parse(String(data)) as { type: string; heartbeatMs: number };
      if (welcome.type !== 'welcome') return fail(new Error(`expected a welcome, got ${String(data).slice(0, 200)}`));
      sockets.push(ws);
      setTimeout(() => beats.push(setInterval(() => ws.send(heartbeat), welcome.heartbeatMs)), Math.random() * welcome.heartbeatMs);
      done();
    });
  });
}

async function connectUpTo(n: number) {
  const wave = 200;
  for (let i = sockets.length; i < n; i += wave) await Promise.all(Array.from({ length: Math.min(wave, n - i) }, (_, j) => connectOne(i + j)));
}

/**
 * The coordinator's memory: the JavaScript heap plus the buffers outside it (`ws` keeps its
 * frames there), from its own /metrics, the least of 8 readings a second apart (so garbage
 * not yet collected counts least); and its resident size from /proc (which also moves with
 * PGlite's WebAssembly memory and the start's garbage given back, so it is shown, not divided).
 */
async function memory() {
  let least = { jsMiB: Infinity, rssMiB: 0, sockets: 0 };
  for (let i = 0; i < 8; i++) {
    const text = await (await fetch(`${url}/metrics`)).text();
    const value = (series: string) => Number(/^\S+ (\S+)$/m.exec(text.split('\n').find((l) => l.startsWith(`${series} `)) ?? '')?.[1] ?? NaN);
    const jsMiB = (value('nodejs_heap_size_used_bytes') + value('nodejs_external_memory_bytes')) / 2 ** 20;
    if (jsMiB < least.jsMiB) least = { jsMiB, rssMiB: usage(pid).rssMiB, sockets: value('supernet_node_sockets') };
    await new Promise((r) => setTimeout(r, 1000));
  }
  return least;
}

const settle = () => new Promise((r) => setTimeout(r, 3000));
await connectUpTo(firstWave);
await settle();
const base = await memory();
const connectStarted = performance.now();
await connectUpTo(total);
const connectSeconds = (performance.now() - connectStarted) / 1000;
await settle();
const held = await memory();
if (process.env.BENCH_SOCKETS_DEBUG) console.log({ base, held });
if (held.sockets !== total) throw new Error(`the coordinator holds ${held.sockets} sockets, not ${total}`);

// Idle: every node heartbeating, nothing else. CPU over the window; health answered meanwhile.
const from = usage(pid);
const health: number[] = [];
const windowEnd = performance.now() + windowSeconds * 1000;
while (performance.now() < windowEnd) {
  const t = performance.now();
  await (await fetch(`${url}/api/health`)).json();
  health.push(performance.now() - t);
  await new Promise((r) => setTimeout(r, 200));
}
const idleCores = (usage(pid).cpu - from.cpu) / windowSeconds;
const open = sockets.filter((ws) => ws.readyState === ws.OPEN).length;
const sorted = health.sort((a, b) => a - b);
const added = total - firstWave;
const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  sockets: total,
  stillOpen: open,
  connectPerSecond: Math.round(added / connectSeconds),
  /** The coordinator's JavaScript memory (heap and buffers) grown per socket added (KiB). */
  kiBPerSocket: Number((((held.jsMiB - base.jsMiB) * 1024) / added).toFixed(2)),
  coordinatorRssMiB: Math.round(held.rssMiB),
  idleCores: Number(idleCores.toFixed(3)),
  healthMs: { p50: Number(sorted[Math.floor(sorted.length / 2)]!.toFixed(1)), max: Number(sorted.at(-1)!.toFixed(1)) },
  windowSeconds,
  seconds: Math.round((performance.now() - started) / 1000),
};
beats.forEach(clearInterval);
sockets.forEach((ws) => ws.terminate());
child.kill('SIGTERM');

const dir = resolve(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'sockets.json'), JSON.stringify(result, null, 2) + '\n');
const md = [
  `# Idle node sockets on one coordinator (${result.date.slice(0, 10)}, ${result.machine})`,
  '',
  'Nodes over real WebSockets, welcomed, heartbeating every heartbeatMs; PGlite; one run (`npm run bench:sockets`). Anchors: `ws` ~3.5 KB a socket, uWebSockets.js < 0.5 KB.',
  '',
  '| sockets held | connects/s | KiB per socket (heap + buffers) | coordinator RSS MiB | idle CPU (cores) | /api/health p50 ms | max ms |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  `| ${open.toLocaleString('en')} | ${result.connectPerSecond} | ${result.kiBPerSocket} | ${result.coordinatorRssMiB} | ${result.idleCores} | ${result.healthMs.p50} | ${result.healthMs.max} |`,
].join('\n');
writeFileSync(join(dir, 'sockets.md'), md + '\n');
console.log(md);
process.exit(0);
