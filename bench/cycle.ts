// npm run bench:cycle. What a claim round and a result batch cost by their size: K trusted nodes
// each claim one unit in one round, and their K results (the CPU reference's answers, inside
// their frames) are judged in one batch, over and over, on a coordinator in this process. The
// coordinator's CPU is this process's over the round and the batch only (the answers are made
// outside them); the server's is the CPU of the PostgreSQL backends serving this database, read
// from /proc (so only for a server on this machine). On PGlite the store runs in this process:
// its CPU is in the coordinator's.
//
// Why: bench/coordinator.ts measures three coordinators on PostgreSQL against one. Three serve a
// third of the nodes each, so their rounds and batches are a third the size, three times as
// many; what a cycle costs whatever its size (its statements' round trips) is then paid three
// times as often. The fit below splits a cycle's cost into that fixed part and a part per unit.
//
// Knobs: BENCH_CYCLE_SIZES (default 1,16,48), BENCH_CYCLE_UNITS (units a size's loop judges,
// default 1,200), BENCH_CYCLE_RUNS (median of, default 3), BENCH_CYCLE_STORES (default
// pglite,postgres), BENCH_DATABASE_URL (else a server is started here). Writes bench/results/cycle.{json,md}.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { sha256Hex } from '../server/agent/runtime.ts';
import { loadConfig } from '../server/config.ts';
import { startCoordinator } from '../server/coordinator.ts';
import { claimUnits, type LeaseHolder } from '../server/nodes/leases.ts';
import { acceptResults } from '../server/nodes/results.ts';
import { trustedStreakMin } from '../server/verify/reputation.ts';
import { matmulReference } from '../workloads/matmul/reference.ts';
import { encodeNpy, parseNpy } from '../shaders/npy.ts';
import { TestClient } from '../tests/helpers/client.ts';
import { RawNode } from '../tests/helpers/raw-node.ts';
import { freshDatabase } from '../tests/helpers/stores.ts';
import { benchPostgres } from './postgres.ts';
import { median } from './timing.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const sizes = (process.env.BENCH_CYCLE_SIZES ?? '1,16,48').split(',').map(Number);
const unitsPerSize = Number(process.env.BENCH_CYCLE_UNITS ?? 1200);
const runs = Number(process.env.BENCH_CYCLE_RUNS ?? 3);
const stores = (process.env.BENCH_CYCLE_STORES ?? 'pglite,postgres').split(',').filter(Boolean) as ('pglite' | 'postgres')[];
if ([...sizes, unitsPerSize, runs].some((x) => !Number.isInteger(x) || x < 1) || sizes.some((k) => k > 48) || stores.some((s) => s !== 'pglite' && s !== 'postgres')) {
  console.error('BENCH_CYCLE_SIZES (at most 48 each), BENCH_CYCLE_UNITS and BENCH_CYCLE_RUNS are positive integers; BENCH_CYCLE_STORES is pglite and/or postgres');
  process.exit(2);
}

interface Row {
  store: 'pglite' | 'postgres';
  /** Nodes in the round, results in the batch. */
  size: number;
  cycles: number;
  /** Per cycle (a round and its batch), ms: medians over the runs. */
  coordinatorMs: number;
  serverMs: number | null;
  wallMs: number;
  runs: { coordinatorMs: number; serverMs: number | null; wallMs: number }[];
}

/** CPU ms of these processes so far (utime + stime, from /proc; 0 for one that is gone). */
function cpuMs(pids: number[]): number {
  const hz = 100; // USER_HZ: Linux reports clock ticks of 10 ms
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return (ticks * 1000) / hz;
}

async function measure(store: 'pglite' | 'postgres', admin: string | null): Promise<Row[]> {
  const databaseUrl = store === 'postgres' ? await freshDatabase(admin!, 'sn_bench') : undefined;
  const coordinator = await startCoordinator(loadConfig({ PORT: '0', SUPERNET_SHUTDOWN_GRACE_MS: '0', SUPERNET_ICE_SERVERS: '', SUPERNET_DATA: mkdtempSync(join(tmpdir(), 'supernet-bench-cycle-')), ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) }));
  const nodes: RawNode[] = [];
  let backends: pg.Client | null = null;
  try {
    const { deps } = coordinator;
    const dev = await TestClient.signup(coordinator.url, 'bench-cycle@example.com');
    await dev.useNewKey();
    // 2,000 × 6 tiles: more units than the sizes' loops take, so none runs dry.
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16_000, k: 8, n: 48, seed: 3 }, tile: 8 }, verification: 'check' }, 201);
    const key = await (await TestClient.signup(coordinator.url, 'bench-cycle-nodes@example.com')).useNewKey();
    for (let i = 0; i < Math.max(...sizes); i++) {
      const node = await RawNode.connect(coordinator.url, key);
      nodes.push(node);
      await node.hello(); // opens the account's ledger account, as a node's hello does
    }
    // Trusted nodes with a measured speed, as the coordinator bench's are after their first
    // results: no known-answer units, room for a lease each.
    const rows = await deps.db.updateTable('nodes').set({ streak: trustedStreakMin, rate_gflops: 1000 }).returning(['id', 'account_id', 'prefix']).execute();
    const holders: LeaseHolder[] = rows.map((n) => ({ nodeId: n.id, holder: n.account_id!, gflops: 1, prefix: n.prefix, ask: 0, kinds: ['matmul'], accountOpened: true }));
    if (databaseUrl) {
      backends = new pg.Client({ connectionString: admin! });
      await backends.connect();
    }
    const serverPids = async () => (backends ? (await backends.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [new URL(databaseUrl!).pathname.slice(1)])).rows.map((r) => r.pid) : []);
    const out: Row[] = [];
    for (const size of sizes) {
      const members = holders.slice(0, size);
      const cycles = Math.max(20, Math.round(unitsPerSize / size));
      const warm = 3;
      let coordinatorMs = 0;
      let serverMs = 0;
      let wallMs = 0;
      const timed = async <T>(work: () => Promise<T>): Promise<T> => {
        const pids = await serverPids();
        const server = cpuMs(pids);
        const own = process.cpuUsage();
        const started = performance.now();
        const result = await work();
        const spent = process.cpuUsage(own);
        wallMs += performance.now() - started;
        coordinatorMs += (spent.user + spent.system) / 1000;
        serverMs += cpuMs(pids) - server;
        return result;
      };
      for (let c = 0; c < cycles + warm; c++) {
        if (c === warm) coordinatorMs = serverMs = wallMs = 0;
        const claimed = await timed(() => claimUnits(deps.db, members, members.map(() => 1), deps.config.leaseTtlMs));
        const reports = await Promise.all(claimed.map(async ({ leases: [lease] }, i) => {
          if (!lease) throw new Error(`a node of ${size} got no lease`);
          const [a, b] = await Promise.all(lease.unit.inputs.map(async (sha) => parseNpy(await deps.blobs.readKnown(sha))));
          const bytes = encodeNpy(matmulReference(a!, b!));
          return { holder: members[i]!.holder, attemptId: lease.attemptId, token: lease.token, output: await sha256Hex(bytes), bytes, accountId: members[i]!.holder };
        }));
        const outcomes = await timed(() => acceptResults(deps, reports));
        if (outcomes.some((o) => o.status !== 'accepted' || !o.verified)) throw new Error(`a result was not verified: ${JSON.stringify(outcomes.find((o) => o.status !== 'accepted' || !o.verified))}`);
      }
      const round = (x: number) => Math.round(x * 100) / 100;
      const run = { coordinatorMs: round(coordinatorMs / cycles), serverMs: databaseUrl ? round(serverMs / cycles) : null, wallMs: round(wallMs / cycles) };
      out.push({ store, size, cycles, ...run, runs: [run] });
    }
    return out;
  } finally {
    await backends?.end();
    nodes.forEach((n) => n.close());
    await coordinator.close();
  }
}

const started = performance.now();
const pgServer = stores.includes('postgres') ? await benchPostgres() : null;
const admin = pgServer && 'admin' in pgServer ? pgServer.admin : null;
if (pgServer && 'skipped' in pgServer) console.log(`cycle bench: PostgreSQL skipped (${pgServer.skipped})`);
const rows: Row[] = [];
try {
  for (const store of stores) {
    if (store === 'postgres' && !admin) continue;
    const measured: Row[][] = [];
    for (let r = 0; r < runs; r++) measured.push(await measure(store, admin));
    for (const [k, size] of sizes.entries()) {
      const all = measured.map((m) => m[k]!);
      const mid = (pick: (x: Row) => number | null) => {
        const values = all.map(pick);
        return values.includes(null) ? null : median(values as number[]);
      };
      rows.push({ store, size, cycles: all[0]!.cycles, coordinatorMs: mid((x) => x.coordinatorMs)!, serverMs: mid((x) => x.serverMs), wallMs: mid((x) => x.wallMs)!, runs: all.flatMap((x) => x.runs) });
    }
  }
} finally {
  if (pgServer && 'stop' in pgServer) pgServer.stop();
}

/** A cycle's cost as fixed + size × per unit, from the smallest and the largest size. */
function fit(store: string, pick: (r: Row) => number | null) {
  const mine = rows.filter((r) => r.store === store).sort((a, b) => a.size - b.size);
  if (mine.length < 2 || pick(mine[0]!) === null) return null;
  const [small, large] = [mine[0]!, mine.at(-1)!];
  const perUnit = (pick(large)! - pick(small)!) / (large.size - small.size);
  return { fixedMs: Math.round((pick(small)! - perUnit * small.size) * 100) / 100, perUnitMs: Math.round(perUnit * 1000) / 1000 };
}
const fits = Object.fromEntries(stores.map((s) => [s, { coordinator: fit(s, (r) => r.coordinatorMs), server: fit(s, (r) => r.serverMs) }]));
const result = { date: new Date().toISOString(), runs, unitsPerSize, rows, fits, seconds: Math.round((performance.now() - started) / 100) / 10 };
const dir = resolve(repoRoot, 'bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(resolve(dir, 'cycle.json'), JSON.stringify(result, null, 2) + '\n');
let md = `# A claim round and its result batch, by size\n\n${new Date().toISOString().slice(0, 10)}; \`npm run bench:cycle\` (bench/cycle.ts): K trusted nodes claim a unit each in one round and their K results are judged in one batch, repeated (${unitsPerSize} units a size). CPU in ms per cycle (round + batch), each the median of ${runs} run${runs > 1 ? 's' : ''}. "Server" is the PostgreSQL backends serving the database; on PGlite the store runs inside the coordinator.\n\n`;
md += '| store | size | cycles | coordinator CPU ms | server CPU ms | wall ms | runs (coordinator / server) |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |\n';
for (const r of rows) md += `| ${r.store} | ${r.size} | ${r.cycles} | ${r.coordinatorMs} | ${r.serverMs ?? '—'} | ${r.wallMs} | ${r.runs.map((x) => `${x.coordinatorMs} / ${x.serverMs ?? '—'}`).join(', ')} |\n`;
md += '\nA cycle as fixed + size × per unit (from the smallest and largest sizes):\n\n| store | coordinator fixed ms | coordinator ms a unit | server fixed ms | server ms a unit |\n| --- | ---: | ---: | ---: | ---: |\n';
for (const s of stores) {
  const f = fits[s]!;
  if (f.coordinator) md += `| ${s} | ${f.coordinator.fixedMs} | ${f.coordinator.perUnitMs} | ${f.server?.fixedMs ?? '—'} | ${f.server?.perUnitMs ?? '—'} |\n`;
}
writeFileSync(resolve(dir, 'cycle.md'), md);
for (const r of rows) console.log(`  ${r.store.padEnd(8)} size ${String(r.size).padStart(2)}: coordinator ${r.coordinatorMs} ms, server ${r.serverMs ?? '—'} ms, wall ${r.wallMs} ms a cycle`);
for (const s of stores) console.log(`  ${s}: ${JSON.stringify(fits[s])}`);
console.log(`wrote bench/results/cycle.{json,md} in ${result.seconds} s`);
process.exit(0);
