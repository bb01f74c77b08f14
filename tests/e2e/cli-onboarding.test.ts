import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { creditMeaning } from '../../server/ledger/format.ts';
import { runCli, spawnCli, stopChild, testCoordinator, waitForOutput } from '../helpers/coordinator.ts';

/**
 * From nothing to a finished job with the CLI alone (#21, point 8): sign up from the command
 * line, the key saved for the commands after it; an agent from the same machine works for the
 * account; a render goes from submit to a PNG.
 */
describe('the CLI alone, from nothing to a finished job', () => {
  let coordinator: Coordinator;
  let agent: ReturnType<typeof spawnCli> | null = null;
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
  });
  afterAll(async () => {
    if (agent) await stopChild(agent);
    await coordinator?.close();
  });

  it('signup saves a key; balance, an agent and submit --wait use it; login makes another; a wrong password is said plainly', async () => {
    const home = { XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'supernet-home-')) };
    const up = await runCli(['signup', '--url', coordinator.url, '--email', 'newcomer@example.com', '--password', 'correct horse battery'], home);
    expect(up.code, up.output).toBe(0);
    const saved = join(home.XDG_CONFIG_HOME, 'supernet', 'config.json');
    expect(up.output).toContain(`Signed up as newcomer@example.com on ${coordinator.url}, 100,000.00 credits to spend. ${creditMeaning}\nA key for this machine is saved in ${saved}`);
    expect(up.output).toContain('Next: npx supernet submit render');
    expect(statSync(saved).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(saved, 'utf8'))).toMatchObject({ url: coordinator.url, email: 'newcomer@example.com', key: expect.stringMatching(/^sn_/) });

    // No --url, no --key from here on: what signup saved.
    expect((await runCli(['balance'], home)).output).toMatch(/100/);
    agent = spawnCli(['agent', '--name', 'laptop'], home);
    await waitForOutput(agent, /working for newcomer@example\.com/, 60_000);
    await waitForOutput(agent, /connected as node/, 60_000);
    const out = join(home.XDG_CONFIG_HOME, 'image.png');
    const job = await runCli(['submit', 'render', '--scene', 'cornell', '--width', '32', '--height', '32', '--spp', '2', '--tile', '16', '--wait', '--out', out], home);
    expect(job.code, job.output).toBe(0);
    expect(readFileSync(out).subarray(1, 4).toString()).toBe('PNG');

    const again = await runCli(['login', '--url', coordinator.url, '--email', 'newcomer@example.com'], { ...home, SUPERNET_PASSWORD: 'correct horse battery' });
    expect(again.code, again.output).toBe(0);
    expect(again.output).toMatch(/^Signed in as newcomer@example\.com/);
    const wrong = await runCli(['login', '--url', coordinator.url, '--email', 'newcomer@example.com', '--password', 'not the password'], home);
    expect([wrong.code, wrong.output]).toEqual([1, 'supernet: Wrong email or password. (HTTP 401)\n']);
    const taken = await runCli(['signup', '--url', coordinator.url, '--email', 'newcomer@example.com', '--password', 'correct horse battery'], home);
    expect(taken.output).toBe('supernet: An account with this email exists: sign in instead. (HTTP 409)\n');
  }, 180_000);
});
