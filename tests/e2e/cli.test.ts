import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { matmulReference } from '../../workloads/matmul/reference.ts';
import { encodeNpy, parseNpy } from '../../shaders/npy.ts';
import { randomMatrix } from '../../workloads/matmul/random.ts';
import { TestClient } from '../helpers/client.ts';
import { cliPath, freePort, repoRoot, spawnCli, stopChild, testCoordinator, waitForOutput } from '../helpers/coordinator.ts';
import { expectClose } from '../helpers/matrices.ts';

/** Runs a line in a shell, as a person or a script would; its exit code and both streams. */
async function sh(line: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // A configuration directory of its own: no key saved by `supernet signup` elsewhere.
    const config = { XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'supernet-config-')) };
    const { stdout, stderr } = await promisify(execFile)('sh', ['-c', line], { cwd: repoRoot, env: { ...process.env, ...config, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('the developer CLI, from a shell', () => {
  let coordinator: Coordinator;
  let agent: ReturnType<typeof spawnCli>;
  let env: Record<string, string>;
  const dir = mkdtempSync(join(tmpdir(), 'supernet-cli-'));
  const supernet = `node ${cliPath}`;

  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
    const dev = await TestClient.signup(coordinator.url, 'cli@example.com');
    env = { SUPERNET_URL: coordinator.url, SUPERNET_KEY: await dev.useNewKey() };
    const worker = await TestClient.signup(coordinator.url, 'cli-agent@example.com');
    agent = spawnCli(['agent', '--url', coordinator.url, '--key', await worker.useNewKey()]);
    await waitForOutput(agent, /connected as node/, 60_000);
  });
  afterAll(async () => {
    if (agent) await stopChild(agent);
    await coordinator?.close();
  });

  it('submit matmul --a --b --wait --out: the file holds A·B; status, keys, balance, transfer and cancel work', async () => {
    const a = randomMatrix(200, 96, 7), b = randomMatrix(96, 130, 8);
    writeFileSync(join(dir, 'a.npy'), encodeNpy(a));
    writeFileSync(join(dir, 'b.npy'), encodeNpy(b));
    const run = await sh(`${supernet} submit matmul --a ${dir}/a.npy --b ${dir}/b.npy --wait --out ${dir}/c.npy`, env);
    expect(run.code, run.stderr).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(run.stderr).toMatch(/\[#{30}\] \d+\/\d+ units · done/); // the progress bar reached the end
    expectClose(parseNpy(readFileSync(join(dir, 'c.npy'))), matmulReference(a, b), 96);

    const status = await sh(`${supernet} status ${id}`, env);
    expect(JSON.parse(status.stdout)).toMatchObject({ id, state: 'done' });
    const listed = await sh(`${supernet} jobs --state done`, env);
    expect(listed.stdout).toMatch(new RegExp(`^${id}  matmul   done       \\d+/\\d+ units +[\\d,.]+ credits`, 'm'));
    expect((await sh(`${supernet} jobs --state running`, env)).stderr).toBe('No job of yours matches.\n');
    expect(await sh(`${supernet} jobs --state paused`, env)).toMatchObject({ code: 1, stderr: expect.stringMatching(/^supernet: state is one or more of queued, running, done, failed, cancelled/) });
    const again = await sh(`${supernet} download ${id} --out ${dir}/again.npy && ${supernet} wait ${id}`, env);
    expect(again.code).toBe(0);
    expect(readFileSync(join(dir, 'again.npy'))).toEqual(readFileSync(join(dir, 'c.npy')));
    const created = await sh(`${supernet} keys create ci-key`, env);
    expect(created.stdout.trim()).toMatch(/^sn_/);
    expect((await sh(`${supernet} keys`, env)).stdout).toContain('ci-key');
    expect((await sh(`${supernet} balance`, { ...env, SUPERNET_KEY: created.stdout.trim() })).stdout).toMatch(/^[\d,]+(\.\d+)? credits available/);
    const sent = await sh(`${supernet} transfer --to cli-agent@example.com --amount 2.5 --idempotency-key t1`, env);
    expect(sent.stdout).toMatch(/^Sent: 2.50 credits/);
    expect((await sh(`${supernet} transfer --to cli-agent@example.com --amount 2.5 --idempotency-key t1`, env)).stdout).toMatch(/^Already sent/);
    // A job cancelled while someone waits on it: wait exits 3 with the reason.
    const big = (await sh(`${supernet} submit matmul --spec '{"random":{"m":4096,"k":4096,"n":4096,"seed":1},"tile":256}' --bid 0.001`, env)).stdout.trim();
    const waiting = sh(`${supernet} wait ${big}`, env);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await sh(`${supernet} cancel ${big}`, env)).stdout).toMatch(/cancelled/);
    const waited = await waiting;
    expect(waited.code).toBe(3);
    expect(waited.stderr.trim().split('\n').at(-1)).toBe(`supernet: job ${big} ended cancelled`);
  });

  it('refuses a bad file, bad usage, a refused request and an unreachable coordinator with an exit code and one line', async () => {
    writeFileSync(join(dir, 'bad.npy'), 'not a matrix at all');
    const bad = await sh(`${supernet} submit matmul --a ${dir}/bad.npy --b ${dir}/bad.npy`, env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^supernet: --a .*bad\.npy is not a 2-D float32 \.npy file: .+\n$/);
    const missing = await sh(`${supernet} submit matmul --a ${dir}/nope.npy --b ${dir}/nope.npy`, env);
    expect(missing.stderr).toMatch(/^supernet: cannot read --a .*nope\.npy: there is no such file\.\n$/);
    expect((await sh(`${supernet} status`, env)).code).toBe(2);
    expect((await sh(`${supernet} submit matmul --bogus`, env)).stderr).toMatch(/^supernet: .*bogus.*\n$/);
    const poor = await sh(`${supernet} submit matmul --spec '{"random":{"m":1024,"k":1024,"n":1024,"seed":1}}' --bid 1000000`, env);
    expect(poor.code).toBe(1);
    expect(poor.stderr).toMatch(/^supernet: Not enough credits: .* \(HTTP 402\)\n$/);
    const noKey = await sh(`${supernet} balance`, { SUPERNET_URL: coordinator.url, SUPERNET_KEY: '' });
    expect(noKey).toMatchObject({ code: 2, stderr: expect.stringMatching(/^supernet: no API key/) });
    const port = await freePort();
    const away = await sh(`${supernet} balance --url http://127.0.0.1:${port}`, env);
    expect(away.code).toBe(4);
    expect(away.stderr).toBe(`supernet: cannot reach the coordinator at http://127.0.0.1:${port} (ECONNREFUSED): is it running? Check --url or SUPERNET_URL.\n`);
    const badPort = await sh(`${supernet} status some-id --url http://127.0.0.1:1`, env); // fetch refuses port 1 before connecting
    expect(badPort).toMatchObject({ code: 4, stderr: expect.stringMatching(/^supernet: cannot reach the coordinator at http:\/\/127\.0\.0\.1:1 \(bad port\)/) });
  });
});
