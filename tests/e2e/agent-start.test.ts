import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, freePort, runCli, spawnCli, stopChild, testCoordinator, waitForOutput } from '../helpers/coordinator.ts';

/**
 * An agent's first minute, as a volunteer meets it: a wrong key or URL is said at once with what
 * to do, not "connection closed; reconnecting…" for ever; without a key it says that its work
 * earns nothing; and nothing it prints reads as a failure when all is well.
 */
describe('the agent says who it works for, or why it cannot start', () => {
  let coordinator: Coordinator;
  // The Vulkan loader's complaint is about the environment CI gives, not ours: make sure it has none to go on.
  const env = { XDG_RUNTIME_DIR: undefined };
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
  });
  afterAll(() => coordinator?.close());

  it('refuses a key the coordinator does not know, at once, with what to do (exit code 2)', async () => {
    const run = await runCli(['agent', '--url', coordinator.url, '--key', 'sn_notakey0000000000000000'], env);
    expect(run.code).toBe(2);
    expect(run.output).toBe(`supernet: the coordinator at ${coordinator.url} does not know this key (sn_not…): make one in the portal under "API keys", or with "supernet keys create NAME".\n`);
  });

  it('says it cannot reach a URL where nothing listens (exit code 4), and that a URL is not a coordinator (exit code 2)', async () => {
    const port = await freePort();
    const nothing = await runCli(['agent', '--url', `http://127.0.0.1:${port}`], env);
    expect([nothing.code, nothing.output]).toEqual([4, `supernet: cannot reach the coordinator at http://127.0.0.1:${port} (ECONNREFUSED): is it running, and is the URL right?\n`]);
    const elsewhere = await runCli(['agent', '--url', `${coordinator.url}/docs`], env);
    expect([elsewhere.code, elsewhere.output]).toEqual([2, `supernet: ${coordinator.url}/docs does not answer as a Supernet coordinator (GET /api/me gave 404): check the URL.\n`]);
  });

  it('names the account it works for, or says that anonymous work earns nothing; and prints nothing that reads as an error', async () => {
    const volunteer = await TestClient.signup(coordinator.url, 'volunteer@example.com');
    const key = await volunteer.useNewKey('agent');
    for (const [args, said] of [
      [['--key', key], /working for volunteer@example\.com: credits for its verified work go to that account/],
      [[], /no --key: working anonymously, and anonymous work earns no credits/],
    ] as const) {
      const agent = spawnCli(['agent', '--url', coordinator.url, ...args], env);
      try {
        await waitForOutput(agent, said, 60_000);
        await waitForOutput(agent, /connected as node/, 60_000);
        expect(agent.output.join('')).not.toMatch(/error|XDG_RUNTIME_DIR/i);
      } finally {
        await stopChild(agent);
      }
    }
  });

  it('works only within its --schedule: outside it, it connects paused and takes no unit; a bad schedule is refused with an example', async () => {
    const bad = await runCli(['agent', '--url', coordinator.url, '--schedule', '25:00-07:00'], env);
    expect([bad.code, bad.output]).toEqual([2, 'supernet: --schedule: "25:00" in the schedule "25:00-07:00" is not a time of day: write HH:MM, from 00:00 to 24:00.\n']);
    // A window that opens two hours from now, local time, for an hour.
    const at = (hours: number) => {
      const d = new Date(Date.now() + hours * 3_600_000);
      return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
    };
    // Read once: a minute that turned between two reads (22:38, then 22:39) failed this test.
    const opens = at(2);
    const night = `${opens}-${at(3)}`;
    const volunteer = await TestClient.signup(coordinator.url, 'night-owl@example.com');
    const dev = await TestClient.signup(coordinator.url, 'daytime-dev@example.com');
    await dev.useNewKey();
    const agent = spawnCli(['agent', '--url', coordinator.url, '--key', await volunteer.useNewKey('agent'), '--schedule', night], env);
    try {
      // Past 22:00 the window opens tomorrow, and the line names the day ("paused until fri 00:40").
      await waitForOutput(agent, new RegExp(`schedule "${night}": paused until ([a-z]{3} )?${opens} \\(in (1 h \\d+ min|2 h)\\)`), 60_000);
      await waitForOutput(agent, /connected as node/, 60_000);
      const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 64, k: 64, n: 64, seed: 9 }, tile: 32 } }, 201);
      // The coordinator knows it is paused: the job says so, and no unit went to it.
      const paused = 'The 1 node that runs matmul jobs is paused.';
      await eventually(async () => (await dev.json('GET', `/api/jobs/${job.id}`)).activity.waiting === paused, 'the job to say its one node is paused', 30_000);
      expect(await coordinator.deps.db.selectFrom('attempts').select('id').execute()).toEqual([]);
    } finally {
      await stopChild(agent);
    }
  }, 150_000); // two CLI starts and three waits of up to 60 s each: over 60 s once in CI on a loaded machine

  it('says why it lost the coordinator when it did, and keeps trying', async () => {
    const volunteer = await TestClient.signup(coordinator.url, 'patient@example.com');
    const agent = spawnCli(['agent', '--url', coordinator.url, '--key', await volunteer.useNewKey('agent')], env);
    try {
      await waitForOutput(agent, /connected as node/, 60_000);
      const url = coordinator.url;
      await coordinator.close();
      const [line] = await waitForOutput(agent, /connection to \S+ closed \(connect ECONNREFUSED [^)]+\); reconnecting in \d+ ms/, 30_000);
      expect(line).toContain(`connection to ${url} closed`);
    } finally {
      await stopChild(agent);
    }
  });

});
