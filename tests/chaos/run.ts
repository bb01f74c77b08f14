// npm run chaos: the full chaos run — 50 agents, 20% liars of every kind, 20% vanishing,
// two coordinator restarts — once per verification policy. Writes bench/results/chaos.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { runChaos } from './harness.ts';

// Three jobs of 400 units each, run oldest first: the first is where honest nodes earn
// trust (every replicate unit runs twice until a node has 10 valid results in a row).
const base = { agents: 50, liarShare: 0.2, vanishShare: 0.2, restarts: 2, jobs: [[160, 48, 160, 8], [160, 48, 160, 8], [160, 48, 160, 8]] as [number, number, number, number][] };
const runs = [];
for (const verification of ['freivalds', 'replicate'] as const) {
  console.log(`\n${verification}:`);
  const report = await runChaos({ ...base, verification, log: (line) => console.log(`  ${line}`) });
  console.log(`  ${report.units} units, ${report.attempts} attempts (overhead ${report.overhead}; by job ${report.overheadByJob.join(', ')}), wrong accepted ${report.wrongAccepted}, liars earned on ${report.liarsEarned} lies, ${report.jobsDone}/${base.jobs.length} jobs done, ${report.seconds} s`);
  console.log(`  ledger ${report.ledger.whole ? 'whole' : 'BROKEN'}: ${report.ledger.paid} µcr paid, ${report.ledger.creditsForLies} µcr for lies, ${report.ledger.pendingLeft} pays left open`);
  runs.push(report);
}
const [freivalds, replicate] = runs as [(typeof runs)[0], (typeof runs)[0]];
const result = {
  date: new Date().toISOString(),
  setup: base,
  units: freivalds.units + replicate.units,
  attempts: freivalds.attempts + replicate.attempts,
  wrongAccepted: freivalds.wrongAccepted + replicate.wrongAccepted,
  // Attempts executed ÷ units. replicate: over the jobs after the first, once honest nodes are
  // trusted; replicateAll counts the warm-up job too.
  overhead: {
    freivalds: freivalds.overhead,
    replicate: Number((replicate.overheadByJob.slice(1).reduce((x, y) => x + y, 0) / (replicate.overheadByJob.length - 1)).toFixed(3)),
    replicateAll: replicate.overhead,
  },
  liarsEarned: freivalds.liarsEarned + replicate.liarsEarned,
  runs,
};
const dir = resolve(import.meta.dirname, '../../bench/results');
mkdirSync(dir, { recursive: true });
writeFileSync(resolve(dir, 'chaos.json'), JSON.stringify(result, null, 2) + '\n');
console.log(`\nwrote bench/results/chaos.json: overhead ${JSON.stringify(result.overhead)}, wrong accepted ${result.wrongAccepted}`);
process.exit(0);
