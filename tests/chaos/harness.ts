import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { NodeRuntime } from '../../server/agent/runtime.ts';
import { loadConfig } from '../../server/config.ts';
import { startCoordinator, type Coordinator } from '../../server/coordinator.ts';
import { auditLedger } from '../../server/ledger/ledger.ts';
import { reconcileLedger } from '../../server/ledger/payments.ts';
import { tilesAgree } from '../../workloads/matmul/coordinator.ts';
import { matmulReference } from '../../workloads/matmul/reference.ts';
import { encodeNpy, parseNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { freePort } from '../helpers/coordinator.ts';
import { randomSpecReference } from '../helpers/matrices.ts';
import { board, liarKinds, lie, type Behaviour } from './liars.ts';

export interface ChaosOptions {
  agents: number;
  liarShare: number;
  vanishShare: number;
  restarts: number;
  verification: 'check' | 'replicate';
  /** Jobs as [m, k, n, tile]. */
  jobs: [number, number, number, number][];
  databaseUrl?: string;
  log?: (line: string) => void;
}

export interface ChaosReport {
  verification: string;
  units: number;
  /** Every attempt: executions, lapsed leases and cancelled ones. */
  attempts: number;
  /** Attempts that ran and reported; `overhead` is executions ÷ units. */
  executions: number;
  lapsed: number;
  /** Lapsed leases by the behaviour of their node. */
  lapsedBy: Record<string, number>;
  overhead: number;
  wrongAccepted: number;
  liarsEarned: number;
  /** Audit after the run: sums agree, none below zero, supply = minted − burned; µcr paid; µcr posted for lies; pays left open. */
  ledger: { whole: boolean; supply: number; paid: number; creditsForLies: number; pendingLeft: number };
  jobsDone: number;
  restarts: number;
  agents: Record<string, number>;
  attemptsByState: Record<string, number>;
  /** Executions per unit of each job in order: later jobs run once honest nodes are trusted. */
  overheadByJob: number[];
  seconds: number;
}

/** The units of these jobs not verified, each with its attempts: why a run stalled. */
async function unitsLeft(coordinator: Coordinator, jobIds: string[]): Promise<string> {
  const db = coordinator.deps.db;
  const units = await db.selectFrom('units').leftJoin('nodes', 'nodes.id', 'units.partner_node').select(['units.id', 'units.idx', 'units.replicas', 'units.partner_due', 'nodes.name as partner']).where('job_id', 'in', jobIds).where('units.state', '<>', 'verified').execute();
  const lines: string[] = [];
  for (const u of units) {
    lines.push(`unit ${u.idx} (${u.replicas} replicas) dealt to ${u.partner ?? 'nobody'} until ${u.partner_due?.toISOString() ?? '-'}`);
    const attempts = await db.selectFrom('attempts').innerJoin('nodes', 'nodes.id', 'attempts.node_id')
      .select(['nodes.name', 'nodes.quarantined_at', 'nodes.disconnected_at', 'attempts.state', 'attempts.known', 'attempts.suspect', 'attempts.lone', 'attempts.released', 'attempts.created_at', 'attempts.error', 'attempts.result_sha256'])
      .where('unit_id', '=', u.id).orderBy('attempts.created_at').execute();
    for (const a of attempts) lines.push(`  ${a.created_at.toISOString()} ${a.name}${a.quarantined_at ? ' (quarantined)' : ''}${a.disconnected_at ? ' (gone)' : ''}: ${a.state}${a.known ? ' known' : ''}${a.suspect ? ' suspect' : ''}${a.lone ? ' lone' : ''}${a.released ? ' released' : ''}${a.result_sha256 ? ` ${a.result_sha256.slice(0, 8)}` : ''}${a.error ? ` — ${a.error}` : ''}`);
  }
  return lines.join('\n');
}

/**
 * Runs matmul jobs on a crowd of simulated agents — the real node runtime over real
 * WebSockets, computing with the CPU reference — of which some lie and some vanish
 * mid-unit, while the coordinator is restarted. Then checks every verified unit against
 * the CPU reference.
 */
export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const log = opts.log ?? (() => {});
  const started = performance.now();
  const env = {
    PORT: String(await freePort()),
    SUPERNET_DATA: mkdtempSync(join(tmpdir(), 'supernet-chaos-')),
    // Long enough that leases in flight survive a restart (~3 s here), short enough that
    // vanished nodes' units come back soon. (Production: 30 s.)
    SUPERNET_LEASE_TTL_MS: '6000',
    // Restarts are graceful (SIGTERM's path), with a short grace: withholders never hand back what they hold.
    SUPERNET_SHUTDOWN_GRACE_MS: '1000',
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
  };
  let coordinator: Coordinator = await startCoordinator(loadConfig(env));
  const url = coordinator.url;
  const dev = await TestClient.signup(url, 'developer@chaos.test');
  await dev.useNewKey();

  const behaviours: Behaviour[] = [];
  const liars = Math.round(opts.agents * opts.liarShare), vanishers = Math.round(opts.agents * opts.vanishShare);
  // Adversaries of every kind; the colluders a ring of three where there is room (two at least:
  // a lone colluder is just a liar).
  const liarList: Behaviour[] = liars >= 6 ? ['colluder', 'colluder', 'colluder'] : liars >= 2 ? ['colluder', 'colluder'] : [];
  for (let i = 0; liarList.length < liars; i++) liarList.push(liarKinds.filter((k) => k !== 'colluder')[i % (liarKinds.length - 1)]!);
  for (let i = 0; i < opts.agents; i++) behaviours.push(i < liars ? liarList[i]! : i < liars + vanishers ? 'vanisher' : 'honest');
  const lied = new Set<string>();
  const liarAccounts = new Set<string>();
  const runtimes: NodeRuntime[] = [];

  // Accounts made four at a time: a signup's password hash (scrypt, 128 MiB) takes ~1 s here.
  const accounts: { client: TestClient; key: string }[] = [];
  for (let i = 0; i < behaviours.length; i += 4) {
    accounts.push(...(await Promise.all(behaviours.slice(i, i + 4).map(async (_, j) => {
      const client = await TestClient.signup(url, `agent${i + j}@chaos.test`);
      return { client, key: await client.useNewKey() };
    }))));
  }
  for (const [i, behaviour] of behaviours.entries()) {
    const { client, key } = accounts[i]!;
    if (behaviour !== 'honest' && behaviour !== 'vanisher') liarAccounts.add(client.accountId);
    let done = 0;
    const vanishAt = 1 + Math.floor(Math.random() * 3);
    const runtime: NodeRuntime = new NodeRuntime({
      url,
      key,
      name: `${behaviour}-${i}`,
      slots: behaviour === 'hoarder' ? 8 : 2,
      capabilities: { adapter: { vendor: 'chaos', architecture: 'cpu', device: behaviour, description: 'simulated agent' }, features: [], gflops: 1, kinds: ['matmul'] },
      connect: (wsUrl, headers) => new WebSocket(wsUrl, { headers }) as unknown as globalThis.WebSocket,
      async execute(unit, [a, b]) {
        if (behaviour === 'vanisher' && done + 1 >= vanishAt) {
          runtime.stop(); // gone mid-unit: the lease is never returned
          return new Promise<Uint8Array>(() => {});
        }
        // Holds what it is leased, heartbeating, and never returns a result.
        if (behaviour === 'hoarder') return new Promise<Uint8Array>(() => {});
        const right = matmulReference(parseNpy(a!), parseNpy(b!));
        const wrong = lie(behaviour, right, done);
        done++;
        board.unshift(right);
        board.length = Math.min(board.length, 20);
        if (wrong) lied.add(`${unit.id}:${i}`);
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
        if (wrong && behaviour === 'hitAndRun') setTimeout(() => runtime.stop(), 500); // the lie reported, gone
        return encodeNpy(wrong ?? right);
      },
    });
    runtimes.push(runtime);
  }

  const jobIds: string[] = [];
  for (const [j, [m, k, n, tile]] of opts.jobs.entries()) {
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m, k, n, seed: 100 + j }, tile }, verification: opts.verification }, 201);
    jobIds.push(job.id);
  }
  const unitsTotal = (await coordinator.deps.db.selectFrom('units').select('id').where('job_id', 'in', jobIds).execute()).length;
  runtimes.forEach((r) => r.start());
  log(`${opts.agents} agents (${liars} liars, ${vanishers} vanishing), ${unitsTotal} units, ${opts.verification}`);

  // Across a restart the coordinator is briefly away: a poll that cannot connect is tried again.
  const progress = async (): Promise<{ verified: number; ended: number }> => {
    const rows = await dev.json('GET', '/api/jobs').catch(async () => {
      await new Promise((r) => setTimeout(r, 200));
      return null;
    });
    if (!rows) return progress();
    const mine = rows.jobs.filter((j: any) => jobIds.includes(j.id));
    return { verified: mine.reduce((s: number, j: any) => s + j.progress.verified, 0), ended: mine.filter((j: any) => j.state !== 'queued' && j.state !== 'running').length };
  };
  let restarts = 0;
  const deadline = Date.now() + 240_000;
  let nextLog = Date.now() + 15_000;
  for (;;) {
    const p = await progress();
    if (p.ended === jobIds.length) break;
    if (Date.now() >= nextLog) {
      nextLog = Date.now() + 15_000;
      log(`${Math.round((performance.now() - started) / 1000)} s: ${p.verified}/${unitsTotal} units verified`);
    }
    if (Date.now() > deadline) {
      runtimes.forEach((r) => r.stop());
      throw new Error(`chaos run stalled at ${p.verified}/${unitsTotal} units; the units left:\n${await unitsLeft(coordinator, jobIds)}`);
    }
    if (restarts < opts.restarts && p.verified >= ((restarts + 1) * unitsTotal) / (opts.restarts + 1)) {
      restarts++;
      log(`restart ${restarts} at ${p.verified}/${unitsTotal} verified`);
      await coordinator.close();
      coordinator = await startCoordinator(loadConfig(env));
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  runtimes.forEach((r) => r.stop());

  // Judge: every verified unit against the CPU reference; liars' accepted lies.
  const db = coordinator.deps.db;
  const units = await db.selectFrom('units').innerJoin('jobs', 'jobs.id', 'units.job_id').select(['units.id', 'units.params', 'units.result_sha256', 'units.state', 'jobs.spec']).where('job_id', 'in', jobIds).execute();
  let wrongAccepted = 0;
  const references = new Map<string, ReturnType<typeof matmulReference>>();
  for (const u of units) {
    if (u.state !== 'verified') continue;
    const { random } = u.spec as { random: { m: number; k: number; n: number; seed: number } };
    const key = JSON.stringify(random);
    if (!references.has(key)) references.set(key, randomSpecReference(random.m, random.k, random.n, random.seed));
    const c = references.get(key)!;
    const { row0, col0, rows, cols, k } = u.params as { row0: number; col0: number; rows: number; cols: number; k: number };
    const want = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) want.set(c.data.subarray((row0 + r) * random.n + col0, (row0 + r) * random.n + col0 + cols), r * cols);
    const got = parseNpy(await coordinator.deps.blobs.readKnown(u.result_sha256!)).data;
    if (!tilesAgree(got, want, k)) wrongAccepted++;
  }
  const attempts = await db
    .selectFrom('attempts')
    .innerJoin('units', 'units.id', 'attempts.unit_id')
    .innerJoin('nodes', 'nodes.id', 'attempts.node_id')
    .select(['attempts.unit_id', 'attempts.state', 'nodes.name', 'nodes.account_id', 'units.job_id'])
    .where('units.job_id', 'in', jobIds)
    .execute();
  const liarsEarned = attempts.filter((a) => a.state === 'valid' && lied.has(`${a.unit_id}:${a.name.split('-').at(-1)}`)).length;
  // The ledger: whole, and no credit posted for a lie.
  await reconcileLedger(db);
  const audit = await auditLedger(db);
  const posted = await db
    .selectFrom('transfers')
    .innerJoin('attempts', 'attempts.id', 'transfers.attempt_id')
    .innerJoin('nodes', 'nodes.id', 'attempts.node_id')
    .select(['attempts.unit_id', 'nodes.name', 'transfers.amount'])
    .where('transfers.kind', '=', 'post')
    .execute();
  const creditsForLies = posted.filter((p) => lied.has(`${p.unit_id}:${p.name.split('-').at(-1)}`)).reduce((s, p) => s + p.amount, 0);
  const pendingLeft = (await db.selectFrom('transfers_pending').select('id').where('job_id', 'in', jobIds).execute()).length;
  const ledger = {
    whole: audit.mismatched.length === 0 && audit.negative.length === 0 && audit.resolvedTwice.length === 0 && audit.total === 0 && audit.supply === audit.minted - audit.burned,
    supply: audit.supply,
    paid: posted.reduce((s, p) => s + p.amount, 0),
    creditsForLies,
    pendingLeft,
  };
  const jobs = await db.selectFrom('jobs').select(['state', 'error']).where('id', 'in', jobIds).execute();
  for (const j of jobs) if (j.error) log(`job ${j.state}: ${j.error}`);
  const unitsPerJob = await db.selectFrom('units').select(['job_id', (eb) => eb.fn.countAll<number>().as('n')]).where('job_id', 'in', jobIds).groupBy('job_id').execute();
  await coordinator.close();
  // Executions: attempts that ran and reported (a result or a failure). Leases that lapsed
  // (vanished, hoarded) or were cancelled unstarted are counted apart.
  const ran = attempts.filter((a) => ['returned', 'valid', 'invalid', 'failed'].includes(a.state));
  const overheadByJob = jobIds.map((id) => Number((ran.filter((a) => a.job_id === id).length / Number(unitsPerJob.find((u) => u.job_id === id)!.n)).toFixed(3)));
  const lapsedBy: Record<string, number> = {};
  for (const a of attempts) if (a.state === 'expired') lapsedBy[a.name.split('-')[0]!] = (lapsedBy[a.name.split('-')[0]!] ?? 0) + 1;
  const attemptsByState: Record<string, number> = {};
  for (const a of attempts) attemptsByState[a.state] = (attemptsByState[a.state] ?? 0) + 1;
  const agents: Record<string, number> = {};
  for (const b of behaviours) agents[b] = (agents[b] ?? 0) + 1;
  return {
    verification: opts.verification,
    units: unitsTotal,
    attempts: attempts.length,
    executions: ran.length,
    lapsed: attempts.filter((a) => a.state === 'expired').length,
    lapsedBy,
    overhead: Number((ran.length / unitsTotal).toFixed(3)),
    wrongAccepted,
    liarsEarned,
    ledger,
    jobsDone: jobs.filter((j) => j.state === 'done').length,
    restarts,
    agents,
    attemptsByState,
    overheadByJob,
    seconds: Math.round((performance.now() - started) / 1000),
  };
}
