// npm run bench (its coordinator section; alone: npm run bench:coordinator). How many units a
// coordinator verifies a second, measured from outside: nodes run the real node runtime over
// real WebSockets, but their compute is replaced by an instant CPU answer (8×8 tiles of an
// 8-deep product, by the CPU reference), so only the coordinator is timed. Each figure from a
// fresh store and fresh coordinator processes (`supernet serve`, so their CPU and memory are
// their own); `check` jobs (Freivalds' test: one execution per unit). Writes bench/results/coordinator.{json,md}.
//
// The nodes are a closed loop: each holds at most 4 leases and asks again as it answers, so the
// load they offer is their leases in flight ÷ a lease's round trip (a claim round, a result batch,
// their frames). 16 nodes keep 64 in flight, which caps the rate whatever the coordinator could do.
// 48 nodes offer more than one coordinator takes here, so the first rows measure the coordinator;
// the 16-node rows are kept beside them to show the loop's limit.
//
// A row's queue is held near its size through the window: whenever fewer than three quarters of
// its units are left unverified, a job of half its size more is submitted. So the 1,000-unit row is a rate at a
// 1,000-unit queue after warm-up, not a job's first seconds and tail (alone, it was done in 3 s).
// It also pays a job's submission, assembly and ledger close for every 500 units it verifies,
// which the 100,000-unit row (jobs of 20,000 submitted before the window) does not: README,
// "The coordinator bench", on why the largest queue measures fastest.
//
// Knobs: BENCH_COORD_UNITS (queue sizes on PGlite, default 1000,10000,100000), BENCH_COORD_PG
// (coordinator counts on PostgreSQL, default 1,2,3; "" to skip), BENCH_COORD_PG_UNITS (default
// 10000), BENCH_COORD_NODES (node counts, default 48,16: every row at the first, the 10,000-unit rows
// at the others), BENCH_COORD_SCALE_NODES (nodes for the scale-out rows on PostgreSQL, default 144;
// 0 to skip), BENCH_COORD_RUNS (each row measured this many times, the median shown; default 1),
// BENCH_COORD_SECONDS (the measuring window, default 20),
// BENCH_DATABASE_URL (a PostgreSQL server; else one is started here); for profiling,
// BENCH_COORD_NODE_ARGS (node flags for the coordinators, e.g. --cpu-prof) and BENCH_COORD_LOG=1
// (their stderr passed through).
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { NodeRuntime } from '../server/agent/runtime.ts';
import { matmulReference } from '../workloads/matmul/reference.ts';
import { encodeNpy, parseNpy } from '../shaders/npy.ts';
import { TestClient } from '../tests/helpers/client.ts';
import { freshDatabase } from '../tests/helpers/stores.ts';
import { benchPostgres } from './postgres.ts';
import { median } from './timing.ts';
import { serve, usage } from './processes.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const list = (name: string, fallback: string) => (process.env[name] ?? fallback).split(',').filter(Boolean).map(Number);
const queueSizes = list('BENCH_COORD_UNITS', '1000,10000,100000');
const pgCounts = list('BENCH_COORD_PG', '1,2,3');
const pgUnits = Number(process.env.BENCH_COORD_PG_UNITS ?? 10_000);
const nodeCounts = list('BENCH_COORD_NODES', '48,16');
/**
 * Scale-out at a load that grows with the coordinators: one and the most coordinators on
 * PostgreSQL with this many nodes (48 each at three). At 48 nodes three coordinators hold 16
 * each, so each claim round and result batch is a third the size (15 against 46) and pays its
 * fixed statements three times as often; these rows ask whether that split is all of the
 * shortfall. Here it was not: 747 verified/s with three against 1,004 with one at 144 nodes
 * (medians of three, 2026-12-04; bench/cycle.ts measures that fixed cost).
 */
const scaleNodes = Number(process.env.BENCH_COORD_SCALE_NODES ?? 144);
const runs = Number(process.env.BENCH_COORD_RUNS ?? 1);
const windowSeconds = Number(process.env.BENCH_COORD_SECONDS ?? 20);
/** The largest job the matmul workload accepts: a bigger queue is several jobs of it, queued at once. */
const jobUnitsMax = 20_000;
const tile = 8;
if ([...queueSizes, ...pgCounts, ...nodeCounts, pgUnits, runs, windowSeconds].some((x) => !Number.isInteger(x) || x < 1) || !nodeCounts.length || !Number.isInteger(scaleNodes) || scaleNodes < 0) {
  console.error('BENCH_COORD_UNITS, BENCH_COORD_PG, BENCH_COORD_NODES (lists), BENCH_COORD_PG_UNITS, BENCH_COORD_RUNS and BENCH_COORD_SECONDS are positive integers; BENCH_COORD_SCALE_NODES is one, or 0');
  process.exit(2);
}

interface Figure {
  store: 'pglite' | 'postgres';
  coordinators: number;
  units: number;
  jobs: number;
  nodes: number;
  /** verified/s of every run of this row (the row's other figures are its median run's). */
  runs: number[];
  /** Verified units a second over the window. */
  unitsPerSecond: number;
  windowSeconds: number;
  verifiedInWindow: number;
  /** From a node's free slot asked for to its lease arriving, over the window (ms). */
  leaseMs: { p50: number; p99: number; count: number };
  /** Coordinator processes together: CPU cores busy over the window, resident memory at its end. */
  cpuCores: number;
  /** This process (the nodes and the polling): the load generator shares the machine. */
  nodesCpuCores: number;
  /** Group commit, over the whole run: nodes per claim round, results per judging transaction (means). */
  perClaimRound: number;
  perResultBatch: number;
  rssMiB: number;
  /** Seconds to submit the jobs (units written). */
  submitSeconds: number;
  /** GET /api/stats (what the network page asks every 3 s) at the window's end, the queue full: median of 5 (ms). */
  statsMs: number;
}

/** One measurement: `coordinators` processes on one store, `units` queued, nodes spread over them. */
async function measure(store: Figure['store'], coordinators: number, units: number, nodeCount: number, databaseUrl?: string): Promise<Figure> {
  const dataDir = mkdtempSync(join(tmpdir(), 'supernet-bench-coord-'));
  // Blobs are shared through one directory here (one machine); the rows through the store.
  const env = { SUPERNET_DATA: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
  const procs: { child: ChildProcess; url: string }[] = [];
  const runtimes: NodeRuntime[] = [];
  try {
    procs.push(await serve(env)); // the first migrates the store; the others join it
    for (let i = 1; i < coordinators; i++) procs.push(await serve(env));
    const dev = await TestClient.signup(procs[0]!.url, 'bench-dev@example.com');
    await dev.useNewKey();
    const submitStarted = performance.now();
    const jobIds: string[] = [];
    const unitsOf = new Map<string, number>();
    let submitted = 0;
    let seed = 1;
    const submit = async (count: number) => {
      for (let left = count; left > 0; seed++) {
        const take = Math.min(left, jobUnitsMax);
        // `take` tiles of 8×8, as near a square of tiles as `take` divides (500: 20 × 25; 5,000:
        // 50 × 100; 20,000: 125 × 160), so that every row's units share their panels alike. One
        // row of 500 tiles gave each unit a panel of its own (1.0 a unit, against 0.015 in the
        // largest queue's jobs): a cost of the job's shape, charged to the smallest queue alone.
        let rows = Math.floor(Math.sqrt(take));
        while (take % rows) rows--;
        const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: rows * tile, k: tile, n: (take / rows) * tile, seed }, tile }, verification: 'check' }, 201);
        if (job.units !== take) throw new Error(`a job of ${job.units} units, not ${take}`);
        jobIds.push(job.id);
        unitsOf.set(job.id, take);
        submitted += take;
        left -= take;
      }
    };
    await submit(units);
    const submitSeconds = (performance.now() - submitStarted) / 1000;

    // Lease latency, seen from the node: a free slot's request timestamped when sent, answered
    // by the next lease to arrive (requests repeated for a slot still waiting do not restart it).
    const latencies: number[] = [];
    let measuring = false;
    const instrumented = (slots: number) => (wsUrl: string, headers: Record<string, string>) => {
      const ws = new WebSocket(wsUrl, { headers });
      const waiting: number[] = [];
      const send = ws.send.bind(ws);
      ws.send = ((data: string, ...rest: unknown[]) => {
        const frame = JSON.parse(data) as { type: string; slots?: number };
        if (frame.type === 'request') for (let i = 0; i < (frame.slots ?? 0) && waiting.length < slots; i++) waiting.push(performance.now());
        return (send as (...a: unknown[]) => void)(data, ...rest);
      }) as typeof ws.send;
      ws.on('message', (data) => {
        if (!String(data).startsWith('{"type":"lease"')) return;
        const asked = waiting.shift();
        if (asked !== undefined && measuring) latencies.push(performance.now() - asked);
      });
      return ws as unknown as globalThis.WebSocket;
    };
    const slots = 4;
    const accounts: { key: string }[] = [];
    for (let i = 0; i < nodeCount; i += 4) {
      accounts.push(...(await Promise.all(Array.from({ length: Math.min(4, nodeCount - i) }, async (_, j) => {
        const client = await TestClient.signup(procs[(i + j) % coordinators]!.url, `bench-node${i + j}@example.com`);
        return { key: await client.useNewKey() };
      }))));
    }
    for (const [i, { key }] of accounts.entries()) {
      const runtime = new NodeRuntime({
        url: procs[i % coordinators]!.url,
        key,
        name: `bench-${i}`,
        slots,
        capabilities: { adapter: { vendor: 'bench', architecture: 'cpu', device: 'instant', description: 'instant CPU answer (bench)' }, features: [], gflops: 1, kinds: ['matmul'] },
        connect: instrumented(slots),
        execute: async (_unit, [a, b]) => encodeNpy(matmulReference(parseNpy(a!), parseNpy(b!))),
      });
      runtimes.push(runtime);
    }
    runtimes.forEach((r) => void r.start());

    // Verified units of every job submitted here: the open ones' counts from the list of open
    // jobs, the others' whole (none fails here). Not the list of all jobs: the 1,000-unit row
    // makes a job a second, and reading up to 100 of them with their plans (500 panel hashes
    // each) ten times a second was a cost of the bench's, charged to that row alone.
    const verified = async () => {
      const known = [...jobIds];
      const { jobs } = await dev.json('GET', '/api/jobs?state=queued,running');
      const open = new Map((jobs as { id: string; progress: { verified: number } }[]).map((j) => [j.id, j.progress.verified]));
      return known.reduce((sum, id) => sum + (open.get(id) ?? unitsOf.get(id)!), 0);
    };
    // The queue is held near its size: a job of units/2 more whenever fewer than 3/4 of units are
    // left unverified (leased ones included), so each row measures a queue of its size and not a
    // job's warm-up or tail (a 1,000-unit job alone was done in under 3 s, almost all warm-up).
    const poll = async () => {
      await new Promise((r) => setTimeout(r, 100));
      const count = await verified();
      if (submitted - count < units * 0.75) await submit(Math.ceil(units / 2));
      return count;
    };
    // Warm-up: until 2% of the units (at least 50) are verified and the store's first
    // maintenance pass is behind (5 s: server/db/pglite-pool.ts), at most 15 s.
    const warmFrom = Date.now();
    let count = await verified();
    while ((count < Math.max(50, units * 0.02) || Date.now() < warmFrom + 6_000) && Date.now() < warmFrom + 15_000) count = await poll();
    measuring = true;
    const from = { at: performance.now(), count, usage: procs.map((p) => usage(p.child.pid!)), own: process.cpuUsage() };
    const windowEnd = Date.now() + windowSeconds * 1000;
    while (Date.now() < windowEnd) count = await poll();
    measuring = false;
    const statsTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await (await fetch(`${procs[0]!.url}/api/stats`)).json();
      statsTimes.push(performance.now() - t0);
    }
    const batches = { rounds: 0, served: 0, batches: 0, results: 0 };
    for (const p of procs) {
      const text = await (await fetch(`${p.url}/metrics`)).text();
      const value = (series: string) => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((l) => l.startsWith(`${series} `)) ?? '')?.[2] ?? 0);
      batches.rounds += value('supernet_claim_round_nodes_count');
      batches.served += value('supernet_claim_round_nodes_sum');
      batches.batches += value('supernet_result_batch_results_count');
      batches.results += value('supernet_result_batch_results_sum');
    }
    const seconds = (performance.now() - from.at) / 1000;
    const to = procs.map((p) => usage(p.child.pid!));
    const sorted = [...latencies].sort((x, y) => x - y);
    const quantile = (q: number) => Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN).toFixed(1));
    return {
      store,
      coordinators,
      units,
      jobs: jobIds.length,
      nodes: nodeCount,
      runs: [],
      unitsPerSecond: Number(((count - from.count) / seconds).toFixed(1)),
      windowSeconds: Number(seconds.toFixed(1)),
      verifiedInWindow: count - from.count,
      leaseMs: { p50: Number(median(sorted).toFixed(1)), p99: quantile(0.99), count: sorted.length },
      cpuCores: Number((to.reduce((s, u, i) => s + u.cpu - from.usage[i]!.cpu, 0) / seconds).toFixed(2)),
      perClaimRound: Number((batches.served / Math.max(1, batches.rounds)).toFixed(1)),
      perResultBatch: Number((batches.results / Math.max(1, batches.batches)).toFixed(1)),
      nodesCpuCores: Number((((own) => (own.user + own.system) / 1e6)(process.cpuUsage(from.own)) / seconds).toFixed(2)),
      rssMiB: Math.round(to.reduce((s, u) => s + u.rssMiB, 0)),
      submitSeconds: Number(submitSeconds.toFixed(1)),
      statsMs: Number(median(statsTimes).toFixed(1)),
    };
  } finally {
    runtimes.forEach((r) => r.stop());
    for (const p of procs) {
      const exited = new Promise((r) => p.child.once('exit', r));
      p.child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const figures: Figure[] = [];
/**
 * Rows, each measured `runs` times from a fresh store, its median run standing for it. Run by run
 * across the rows (1, 2, 3, 1, 2, 3, …), not a row's runs one after another: this machine's speed
 * drifts by a quarter within an hour, and rows run apart compared its drift, not their queues.
 */
async function rows(onces: (() => Promise<Figure>)[]) {
  const all: Figure[][] = onces.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, once] of onces.entries()) {
      const f = await once();
      all[k]!.push(f);
      if (runs > 1) console.log(`    run ${i + 1} of ${runs}: ${f.store}, ${f.nodes} nodes, ${f.coordinators} coord., ${f.units} units: ${f.unitsPerSecond} verified/s`);
    }
  }
  for (const measured of all) {
    const sorted = [...measured].sort((a, b) => a.unitsPerSecond - b.unitsPerSecond);
    show({ ...sorted[(sorted.length - 1) >> 1]!, runs: measured.map((f) => f.unitsPerSecond) });
  }
}
const show = (f: Figure) => {
  figures.push(f);
  console.log(`  ${f.store.padEnd(8)} ${String(f.nodes).padStart(3)} nodes ${f.coordinators} coord.  ${String(f.units).padStart(6)} units  ${f.unitsPerSecond.toFixed(1).padStart(7)} verified/s${f.runs.length > 1 ? ` (median of ${f.runs.join(', ')})` : ''}  lease p50 ${f.leaseMs.p50} ms p99 ${f.leaseMs.p99} ms  CPU ${f.cpuCores} cores (nodes ${f.nodesCpuCores})  ${f.rssMiB} MiB  nodes/round ${f.perClaimRound} results/batch ${f.perResultBatch}  stats ${f.statsMs} ms  (window ${f.windowSeconds} s, ${f.verifiedInWindow} units; submit ${f.submitSeconds} s)`);
};
const started = performance.now();
console.log(`Coordinator throughput: ${nodeCounts.join(' and ')} nodes answering at once with the CPU (instant compute: only the coordinator is timed), check (Freivalds) jobs of ${tile}×${tile} tiles${runs > 1 ? `, each row the median of ${runs} runs` : ''}`);
/** Every row at the first node count; at the others, the rows of `pgUnits` units on one coordinator. */
const sets = nodeCounts.map((nodes, k) => ({ nodes, units: k ? queueSizes.filter((u) => u === pgUnits) : queueSizes, coordinators: k ? pgCounts.slice(0, 1) : pgCounts }));
await rows(sets.flatMap((set) => set.units.map((units) => () => measure('pglite', 1, units, set.nodes))));
let pgNote: string | null = null;
if (pgCounts.length) {
  const server = await benchPostgres();
  if ('skipped' in server) {
    pgNote = server.skipped;
    console.log(`  PostgreSQL section skipped: ${pgNote}`);
  } else {
    try {
      const on = (coordinators: number, nodes: number) => async () => measure('postgres', coordinators, pgUnits, nodes, await freshDatabase(server.admin, 'sn_bench'));
      const most = Math.max(...pgCounts);
      await rows([...sets.flatMap((set) => set.coordinators.map((n) => on(n, set.nodes))), ...(scaleNodes && most > 1 ? [1, most].map((n) => on(n, scaleNodes)) : [])]);
    } finally {
      server.stop();
    }
  }
}

const byQueue = figures.filter((f) => f.store === 'pglite' && f.nodes === nodeCounts[0]);
const flat = byQueue.length >= 2 ? Number((byQueue.at(-1)!.unitsPerSecond / byQueue[0]!.unitsPerSecond).toFixed(2)) : null;
const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  compute: 'instant CPU answer (the CPU reference on 8×8×8 tiles): only the coordinator is timed',
  nodes: nodeCounts,
  runs,
  windowSeconds,
  figures,
  /** verified/s at the largest queue ÷ at the smallest (1.0 = flat cost). */
  flatness: flat,
  postgresSkipped: pgNote,
  seconds: Math.round((performance.now() - started) / 1000),
};
const dir = resolve(repoRoot, 'bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(resolve(dir, 'coordinator.json'), JSON.stringify(result, null, 2) + '\n');
const md = [
  `# Coordinator throughput (${result.date.slice(0, 10)}, ${result.machine})`,
  '',
  `Nodes over real WebSockets (one process); compute replaced by an instant CPU answer, so only the coordinator is timed. \`check\` (Freivalds) jobs of ${tile}×${tile} tiles (queues over ${jobUnitsMax} units are several jobs; each queue held near its size through the window: a job of half its size more whenever fewer than three quarters of it are left unverified). ${runs > 1 ? `Each row the median of ${runs} runs, run by run across the rows (all runs' verified/s in the last column)` : 'One run per row'} (\`npm run bench:coordinator\`). Nodes are a closed loop (each holds at most 4 leases)${nodeCounts.length > 1 ? `: ${Math.min(...nodeCounts)} nodes cap the rate by their own round trips, not the coordinator` : ''} (see bench/coordinator.ts).`,
  '',
  '| store | nodes | coordinators | units queued | verified/s | lease p50 ms | lease p99 ms | coordinator CPU (cores) | coordinator RSS MiB | nodes CPU (cores) | nodes per claim round | results per batch | GET /api/stats ms | runs (verified/s) |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...figures.map((f) => `| ${f.store} | ${f.nodes} | ${f.coordinators} | ${f.units.toLocaleString('en')} | ${f.unitsPerSecond} | ${f.leaseMs.p50} | ${f.leaseMs.p99} | ${f.cpuCores} | ${f.rssMiB} | ${f.nodesCpuCores} | ${f.perClaimRound} | ${f.perResultBatch} | ${f.statsMs} | ${f.runs.join(', ')} |`),
  '',
  flat === null ? '' : `Rate at the largest queue ÷ rate at the smallest (${nodeCounts[0]} nodes): ${flat} (1.0 is a flat cost).`,
  pgNote ? `PostgreSQL section skipped: ${pgNote}.` : '',
].join('\n');
writeFileSync(resolve(dir, 'coordinator.md'), md.trimEnd() + '\n');
console.log(`wrote bench/results/coordinator.{json,md} in ${result.seconds} s${flat === null ? '' : `; largest ÷ smallest queue: ${flat}`}`);
process.exit(0);
