// npm run chaos: the full chaos run — 50 agents, 20% adversaries of every kind (liars, a ring,
// hit-and-run, a hoarder), 20% vanishing, two coordinator restarts — once per verification policy,
// CHAOS_RUNS times (default 1; 3 for the figures in the README). Writes bench/results/chaos.json.
// Exits 1 unless every job of every run is done, nothing wrong was accepted and no lie was paid.
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { runChaos, type ChaosReport } from './harness.ts';

// Three jobs of 400 units each, run oldest first: the first is where honest nodes earn
// trust (every replicate unit runs twice until a node has 10 valid results in a row).
const base = { agents: 50, liarShare: 0.2, vanishShare: 0.2, restarts: 2, jobs: [[160, 48, 160, 8], [160, 48, 160, 8], [160, 48, 160, 8]] as [number, number, number, number][] };
const times = Number(process.env.CHAOS_RUNS ?? 1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// Executions ÷ units; replicate after warm-up: over the jobs after the first, once honest nodes are trusted.
const afterWarmUp = (r: ChaosReport) => Number((r.overheadByJob.slice(1).reduce((x, y) => x + y, 0) / (r.overheadByJob.length - 1)).toFixed(3));

const runs: ChaosReport[] = [];
let whole = true;
for (let t = 1; t <= times; t++) {
  for (const verification of ['check', 'replicate'] as const) {
    console.log(`\nrun ${t}/${times}, ${verification}:`);
    const report = await runChaos({ ...base, verification, log: (line) => console.log(`  ${line}`) });
    console.log(`  ${report.units} units, ${report.executions} executions (overhead ${report.overhead}; by job ${report.overheadByJob.join(', ')}), ${report.lapsed} leases lapsed, wrong accepted ${report.wrongAccepted}, liars earned on ${report.liarsEarned} lies, ${report.jobsDone}/${base.jobs.length} jobs done, ${report.seconds} s`);
    console.log(`  ledger ${report.ledger.whole ? 'whole' : 'BROKEN'}: ${report.ledger.paid} µcr paid, ${report.ledger.creditsForLies} µcr for lies, ${report.ledger.pendingLeft} pays left open`);
    whole &&= report.jobsDone === base.jobs.length && report.wrongAccepted === 0 && report.liarsEarned === 0 && report.ledger.whole && report.ledger.creditsForLies === 0;
    runs.push(report);
  }
}
const of = (v: string) => runs.filter((r) => r.verification === v);
const result = {
  date: new Date().toISOString(),
  setup: { ...base, runs: times },
  units: runs.reduce((s, r) => s + r.units, 0),
  executions: runs.reduce((s, r) => s + r.executions, 0),
  wrongAccepted: runs.reduce((s, r) => s + r.wrongAccepted, 0),
  jobsNotDone: runs.reduce((s, r) => s + base.jobs.length - r.jobsDone, 0),
  // Medians over the runs of executions ÷ units (lapsed and cancelled leases not counted).
  overhead: {
    check: median(of('check').map((r) => r.overhead)),
    replicate: median(of('replicate').map(afterWarmUp)),
    replicateAll: median(of('replicate').map((r) => r.overhead)),
  },
  liarsEarned: runs.reduce((s, r) => s + r.liarsEarned, 0),
  runs,
};
const dir = resolve(import.meta.dirname, '../../bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(resolve(dir, 'chaos.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`\nwrote bench/results/chaos.json: overhead ${JSON.stringify(result.overhead)}, wrong accepted ${result.wrongAccepted}, jobs not done ${result.jobsNotDone}`);
process.exit(whole ? 0 : 1);
