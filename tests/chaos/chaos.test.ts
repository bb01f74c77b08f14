import { describe, expect, it } from 'vitest';
import { runChaos } from './harness.ts';

// The CI-sized chaos run; `npm run chaos` runs the full one (50 agents, two restarts).
describe('chaos: liars of every kind, vanishing nodes and a coordinator restart', () => {
  it("with the check (Freivalds' test), finishes every job right, accepts no wrong unit, pays no lie, keeps the ledger whole, at ≤ 1.2 executions per unit", async () => {
    const report = await runChaos({
      agents: 20,
      liarShare: 0.2,
      vanishShare: 0.2,
      restarts: 1,
      verification: 'check',
      jobs: [[96, 32, 96, 8], [96, 32, 96, 8]],
    });
    expect(report).toMatchObject({ units: 288, jobsDone: 2, wrongAccepted: 0, liarsEarned: 0, restarts: 1 });
    expect(report.ledger).toMatchObject({ whole: true, creditsForLies: 0, pendingLeft: 0 });
    expect(report.ledger.paid).toBeGreaterThan(0);
    expect(report.attemptsByState.invalid).toBeGreaterThan(0); // the liars did lie, and were caught
    expect(report.overhead).toBeLessThanOrEqual(1.2);
  }, 180_000);
});
