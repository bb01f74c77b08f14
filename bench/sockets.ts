// npm run bench (its sockets section; alone: npm run bench:sockets). How many idle node sockets
// one coordinator holds and what each costs. The coordinator (PGlite) runs in this process,
// started with --expose-gc so that its memory is measured after a full collection; the nodes run
// in a child process (this file with `clients`), over real WebSockets: each says hello and then
// only heartbeats, every heartbeatMs of its welcome, as real nodes do (no work is queued).
// Memory per socket is the growth from a first wave of sockets to all of them, over the sockets
// added; idle CPU is this process's over a window while holding them all; /api/health's latency
// meanwhile says whether it still answers. Writes bench/results/sockets.{json,md}.
//
// Knobs: BENCH_SOCKETS (default 10000), BENCH_SOCKETS_SECONDS (the idle window, default 15).
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';

if (process.argv[2] === 'clients') await clients(process.argv[3]!);
else await main();

/** The child: opens sockets when told how many in all (`{ upTo }`), answers `{ open }` once they are. */
async function clients(url: string) {
  const wsUrl = url.replace(/^http/, 'ws') + '/api/nodes/ws';
  const hello = JSON.stringify({ type: 'hello', protocol: 1, capabilities: { adapter: { vendor: 'bench', architecture: 'cpu', device: 'idle', description: 'an idle node' }, features: [], gflops: 1, kinds: ['matmul'] } });
  const heartbeat = JSON.stringify({ type: 'heartbeat', attempts: [] });
  const sockets: WebSocket[] = [];
  const connectOne = (i: number) =>
    new Promise<void>((done, fail) => {
      // Source addresses spread over 127.0.0.0/8, as nodes come from many hosts.
      const ws = new WebSocket(wsUrl, { localAddress: `127.0.${(i >> 8) & 255}.${(i & 255) || 1}` });
      ws.once('error', fail);
      ws.once('open', () => ws.send(hello));
      ws.once('message', (data) => {
        const welcome = JSON.parse(String(data)) as { type: string; heartbeatMs: number };
        if (welcome.type !== 'welcome') return fail(new Error(`expected a welcome, got ${String(data).slice(0, 200)}`));
        sockets.push(ws);
        setTimeout(() => setInterval(() => ws.send(heartbeat), welcome.heartbeatMs), Math.random() * welcome.heartbeatMs);
        done();
      });
    });
  process.on('message', async ({ upTo }: { upTo: number }) => {
    for (let i = sockets.length; i < upTo; i += 200) await Promise.all(Array.from({ length: Math.min(200, upTo - i) }, (_, j) => connectOne(i + j)));
    process.send!({ open: sockets.filter((ws) => ws.readyState === ws.OPEN).length });
  });
}

async function main() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc (npm run bench:sockets does)');
  const { loadConfig } = await import('../server/config.ts');
  const { startCoordinator } = await import('../server/coordinator.ts');
  const total = Number(process.env.BENCH_SOCKETS ?? 10_000);
  const windowSeconds = Number(process.env.BENCH_SOCKETS_SECONDS ?? 15);
  const firstWave = Math.min(500, Math.floor(total / 10));
  const started = performance.now();
  const coordinator = await startCoordinator(loadConfig({ PORT: '0', SUPERNET_DATA: mkdtempSync(join(tmpdir(), 'supernet-bench-sockets-')) }));
  const url = coordinator.url.replace('localhost', '127.0.0.1');
  const child = fork(import.meta.filename, ['clients', url], { execArgv: ['--import', resolve(import.meta.dirname, '../bin/register.mjs')] });
  const openUpTo = (upTo: number) =>
    new Promise<number>((done) => {
      child.once('message', ({ open }: { open: number }) => done(open));
      child.send({ upTo });
    });
  /** The heap and the buffers outside it (`ws` keeps frames there), after full collections. */
  const memory = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 300));
    }
    const m = process.memoryUsage();
    return { jsMiB: (m.heapUsed + m.external) / 2 ** 20, rssMiB: m.rss / 2 ** 20 };
  };

  await openUpTo(firstWave);
  await new Promise((r) => setTimeout(r, 2000));
  const base = await memory();
  const connectStarted = performance.now();
  const open = await openUpTo(total);
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  await new Promise((r) => setTimeout(r, 3000));
  const held = await memory();
  if (coordinator.hub.conns.size !== total) throw new Error(`the coordinator holds ${coordinator.hub.conns.size} sockets, not ${total}`);

  // Idle: every node heartbeating, nothing else. CPU over the window; health answered meanwhile.
  const from = process.cpuUsage();
  const health: number[] = [];
  const windowEnd = performance.now() + windowSeconds * 1000;
  while (performance.now() < windowEnd) {
    const t = performance.now();
    await (await fetch(`${url}/api/health`)).json();
    health.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 200));
  }
  const cpu = process.cpuUsage(from);
  const sorted = health.sort((a, b) => a - b);
  const added = total - firstWave;
  const result = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    sockets: coordinator.hub.conns.size,
    clientsOpen: open,
    connectPerSecond: Math.round(added / connectSeconds),
    /** The coordinator's JavaScript memory (heap and buffers, after full collections) grown per socket added (KiB). */
    kiBPerSocket: Number((((held.jsMiB - base.jsMiB) * 1024) / added).toFixed(2)),
    coordinatorRssMiB: Math.round(held.rssMiB),
    idleCores: Number(((cpu.user + cpu.system) / 1e6 / windowSeconds).toFixed(3)),
    healthMs: { p50: Number(sorted[Math.floor(sorted.length / 2)]!.toFixed(1)), max: Number(sorted.at(-1)!.toFixed(1)) },
    windowSeconds,
    seconds: Math.round((performance.now() - started) / 1000),
  };
  child.kill();
  await coordinator.close();

  const dir = resolve(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'sockets.json'), JSON.stringify(result, null, 2) + '\n');
  const md = [
    `# Idle node sockets on one coordinator (${result.date.slice(0, 10)}, ${result.machine})`,
    '',
    'Nodes over real WebSockets from another process, welcomed, heartbeating every heartbeatMs; PGlite; one run (`npm run bench:sockets`). Anchors: `ws` ~3.5 KB a socket, uWebSockets.js < 0.5 KB.',
    '',
    '| sockets held | connects/s | KiB per socket (heap + buffers) | coordinator RSS MiB | idle CPU (cores) | /api/health p50 ms | max ms |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${result.sockets.toLocaleString('en')} | ${result.connectPerSecond} | ${result.kiBPerSocket} | ${result.coordinatorRssMiB} | ${result.idleCores} | ${result.healthMs.p50} | ${result.healthMs.max} |`,
  ].join('\n');
  writeFileSync(join(dir, 'sockets.md'), md + '\n');
  console.log(md);
  process.exit(0);
}
