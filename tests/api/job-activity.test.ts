import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, spawnCli, stopChild, testCoordinator, waitForOutput } from '../helpers/coordinator.ts';
import { RawNode } from '../helpers/raw-node.ts';

/**
 * A job says how it goes (#21, point 6): its name and tags; while it runs, the nodes on it, its
 * pace and the time left; while nothing is done on it, why, and what to do about it.
 */
describe('what a job is doing, or why it waits', () => {
  let coordinator: Coordinator;
  let dev: TestClient;
  const nodes: RawNode[] = [];
  beforeAll(async () => {
    coordinator = await testCoordinator('pglite');
    dev = await TestClient.signup(coordinator.url, 'activity@example.com');
    await dev.useNewKey();
  });
  afterAll(async () => {
    for (const n of nodes) n.close();
    await coordinator?.close();
  });

  const matmul = (extra: Record<string, unknown> = {}) => dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 64, k: 32, n: 64, seed: 1 }, tile: 32 }, ...extra }, 201);
  const waiting = async (id: string) => (await dev.json('GET', `/api/jobs/${id}`)).activity.waiting as string;
  async function node(email: string, hello: Parameters<RawNode['hello']>[0] = {}) {
    const owner = await TestClient.signup(coordinator.url, email);
    const n = await RawNode.connect(coordinator.url, await owner.useNewKey());
    await n.hello(hello);
    nodes.push(n);
    return n;
  }

  it('has a name and tags, and the list filters by tag and by state', async () => {
    const job = await matmul({ name: 'nightly product', tags: ['nightly', 'v1.2'] });
    expect(job).toMatchObject({ name: 'nightly product', tags: ['nightly', 'v1.2'] });
    const adhoc = await matmul({ tags: ['adhoc'] });
    const ids = async (query: string) => (await dev.json('GET', `/api/jobs${query}`)).jobs.map((j: { id: string }) => j.id);
    expect(await ids('?tag=nightly')).toEqual([job.id]);
    await dev.json('DELETE', `/api/jobs/${adhoc.id}`);
    expect(await ids('?state=queued,running')).toEqual([job.id]);
    expect(await ids('?state=cancelled')).toEqual([adhoc.id]);
    expect(await ids('?state=done,cancelled&tag=nightly')).toEqual([]);
    const wrong = await dev.call('GET', '/api/jobs?state=paused');
    expect(wrong.status).toBe(400);
    expect((await wrong.json()).error.message).toBe('state is one or more of queued, running, done, failed, cancelled, comma-separated (?state=queued,running); tag is a tag.');
    const bad = await dev.call('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 1 } }, tags: ['no spaces please'] });
    expect((await bad.json()).error.message).toBe('tags[0]: A tag is 1 to 32 letters, digits, dots, dashes or underscores.');
    // A list does not work activity out for each job; a job's page does.
    expect((await dev.json('GET', '/api/jobs')).jobs[0].activity).toBeNull();
  });

  it('says why it waits, first thing first, with what to do', async () => {
    const job = await matmul();
    expect(await waiting(job.id)).toBe('No node is online. Open the contribute page (/) in a browser tab and press Start, or run an agent: npx supernet agent --url URL --key KEY.');
    await node('renders@example.com', { kinds: ['render'] });
    expect(await waiting(job.id)).toBe('1 node online, none of which runs matmul jobs. Start an agent or a tab that does.');
    await node('dear@example.com', { ask: 50 });
    expect(await waiting(job.id)).toBe('The 1 node that runs matmul jobs asks at least 50.00 credits per GFLOP; this job bids 1.00. Submit it again with a bid of at least 50.00.');
    const replicated = await matmul({ verification: 'replicate', bid: 60 });
    expect(await waiting(replicated.id)).toBe('Replication needs results from 2 different accounts; the nodes online that take this job belong to 1. It goes on when another account\'s node joins.');
  });

  it('while nodes work: how many, the pace, the time left; and the CLI says why a job waits', async () => {
    const job = await matmul({ bid: 100 });
    const worker = await node('worker@example.com', { ask: 0 });
    for (let i = 0; i < 3; i++) {
      const lease = await worker.lease();
      if (i === 0) expect((await dev.json('GET', `/api/jobs/${job.id}`)).activity).toMatchObject({ nodesWorking: 1, waiting: null });
      await worker.submit(lease, await worker.compute(lease));
    }
    const { activity, progress } = await eventually(async () => {
      const view = await dev.json('GET', `/api/jobs/${job.id}`);
      return view.progress.verified === 3 && view;
    }, 'three units verified');
    expect(progress).toEqual({ units: 4, verified: 3 });
    expect(activity.unitsPerMinute).toBe(1.5); // 3 in the last two minutes
    expect(activity.etaSeconds).toBe(40); // the one left, at 1.5 a minute

    worker.close();
    const cli = spawnCli(['submit', 'matmul', '--spec', '{"random":{"m":64,"k":32,"n":64,"seed":2},"tile":32}', '--name', 'from the CLI', '--tag', 'cli', '--wait'], { SUPERNET_URL: coordinator.url, SUPERNET_KEY: dev.key });
    try {
      await waitForOutput(cli, /waiting: The 1 node that runs matmul jobs asks at least 50\.00 credits per GFLOP/);
    } finally {
      await stopChild(cli);
    }
    expect((await dev.json('GET', '/api/jobs?tag=cli')).jobs[0]).toMatchObject({ name: 'from the CLI', tags: ['cli'] });
  });
});
