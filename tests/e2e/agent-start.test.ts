import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../helpers/client.ts';
import { freePort, runCli, spawnCli, stopChild, testCoordinator, waitForOutput } from '../helpers/coordinator.ts';

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
