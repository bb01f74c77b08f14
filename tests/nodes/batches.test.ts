import type { KyselyPlugin } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { sha256Hex } from '../../server/agent/runtime.ts';
import { claimUnits, type LeaseHolder } from '../../server/nodes/leases.ts';
import { trustedStreakMin } from '../../server/verify/reputation.ts';
import { acceptResults } from '../../server/nodes/results.ts';
import { matmulReference } from '../../workloads/matmul/reference.ts';
import { encodeNpy, parseNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { RawNode, type Lease } from '../helpers/raw-node.ts';

/**
 * Group commit (server/nodes/hub.ts): nodes that ask together are served by one claim round,
 * results that come together are judged in one transaction, and small outputs travel inside
 * their result frames.
 */
describe('batches', () => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    nodes.splice(0).forEach((n) => n.close());
    await coordinator?.close();
  });

  const metric = async (series: string) => {
    const text = await (await fetch(`${coordinator.url}/metrics`)).text();
    return Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? NaN);
  };

  it('serves nodes that ask at once in shared claim rounds and judges results that come at once in shared transactions', async () => {
    coordinator = await testCoordinator('pglite');
    const dev = await TestClient.signup(coordinator.url, 'dev-batch@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 96, k: 8, n: 8, seed: 4 }, tile: 8 }, verification: 'check' }, 201);
    const count = 12;
    for (let i = 0; i < count; i++) {
      const client = await TestClient.signup(coordinator.url, `batch${i}@example.com`);
      const node = await RawNode.connect(coordinator.url, await client.useNewKey());
      nodes.push(node);
      await node.hello();
    }
    const roundsBefore = await metric('supernet_claim_round_nodes_count');
    for (const node of nodes) node.send({ type: 'request', slots: 1 });
    const leases = await Promise.all(nodes.map((n) => n.next('lease')));
    expect(new Set(leases.map((l) => l.unit.id)).size).toBe(count); // no unit twice
    expect(await metric('supernet_claim_round_nodes_count') - roundsBefore).toBeLessThan(count);
    const outputs = await Promise.all(nodes.map((n, i) => n.compute(leases[i]!)));
    const acks = await Promise.all(nodes.map((n, i) => n.submitInline(leases[i]!, outputs[i]!)));
    expect(acks.map((a) => a.status)).toEqual(nodes.map(() => 'accepted'));
    expect(await metric('supernet_result_batch_results_sum')).toBe(count);
    expect(await metric('supernet_result_batch_results_count')).toBeLessThan(count);
    expect(await metric('supernet_verified_units_total')).toBe(count);
    expect((await dev.json('GET', `/api/jobs/${job.id}`)).progress).toMatchObject({ verified: count });
    // A unit's output sent inside its frame is stored as an upload would store it.
    const bytes = encodeNpy(outputs[0]!);
    const stored = await fetch(`${coordinator.url}/api/blobs/${await sha256Hex(bytes)}`);
    expect(new Uint8Array(await stored.arrayBuffer())).toEqual(bytes);
  });

  it('serves a claim round and judges a result batch in a fixed, small number of statements, whatever their size', async () => {
    // Each statement is a round trip to the store, and on PostgreSQL its fixed cost (a write to
    // the socket, a wake-up of the server, a parse and a plan) outweighed its work: in the bench
    // with three coordinators, a quarter of a coordinator's CPU was the write of its queries alone
    // (bench/coordinator.ts). So a round and a batch are counted here: the same count for 4 nodes
    // or results as for 12, and no more than the bounds below.
    coordinator = await testCoordinator('pglite');
    const { deps } = coordinator;
    const dev = await TestClient.signup(coordinator.url, 'dev-trips@example.com');
    await dev.useNewKey();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 128, k: 8, n: 8, seed: 6 }, tile: 8 }, verification: 'check' }, 201);
    const key = await (await TestClient.signup(coordinator.url, 'trips-nodes@example.com')).useNewKey();
    for (let i = 0; i < 16; i++) {
      const node = await RawNode.connect(coordinator.url, key);
      nodes.push(node);
      await node.hello(); // opens the account's ledger account, as a node's hello does
    }
    // Trusted nodes, as the bench's are after their first results: no known-answer unit is drawn for them.
    const rows = await deps.db.updateTable('nodes').set({ streak: trustedStreakMin }).returning(['id', 'account_id', 'prefix']).execute();
    const holders: LeaseHolder[] = rows.map((n) => ({ nodeId: n.id, holder: n.account_id!, gflops: 1, prefix: n.prefix, ask: 0, kinds: ['matmul'], accountOpened: true }));
    let statements = 0;
    const counter: KyselyPlugin = { transformQuery: (args) => (statements++, args.node), transformResult: async (args) => args.result };
    const counted = { ...deps, db: deps.db.withPlugin(counter) };
    const counting = async <T>(work: () => Promise<T>) => {
      statements = 0;
      const out = await work();
      return { out, statements };
    };
    const round = (members: LeaseHolder[]) => counting(() => claimUnits(counted.db, members, members.map(() => 1), deps.config.leaseTtlMs));
    const batch = (claimed: Awaited<ReturnType<typeof claimUnits>>, members: LeaseHolder[]) =>
      counting(async () => {
        const reports = await Promise.all(claimed.map(async ({ leases: [lease] }, i) => {
          const [a, b] = await Promise.all(lease!.unit.inputs.map(async (sha) => parseNpy(await deps.blobs.readKnown(sha))));
          const bytes = encodeNpy(matmulReference(a!, b!));
          return { holder: members[i]!.holder, attemptId: lease!.attemptId, token: lease!.token, output: await sha256Hex(bytes), bytes, accountId: members[i]!.holder };
        }));
        statements = 0; // the reports' making above read blobs only through the store's cache
        return acceptResults(counted, reports);
      });
    const first = await round(holders.slice(0, 1)); // the job's first lease starts it: one statement more
    const small = await round(holders.slice(1, 5));
    const large = await round(holders.slice(5, 16));
    expect([...first.out, ...small.out, ...large.out].map((c) => c.leases.length)).toEqual(holders.map(() => 1));
    // The walk's cursor is moved (one statement) only when a round took the first unit it walked,
    // which the random spread decides: hence "at most one more".
    expect(large.statements).toBeLessThanOrEqual(small.statements + 1);
    expect(Math.max(small.statements, large.statements)).toBeLessThanOrEqual(8);
    const judgedSmall = await batch([...first.out, ...small.out], holders.slice(0, 5));
    const judgedLarge = await batch(large.out, holders.slice(5, 16));
    expect([...judgedSmall.out, ...judgedLarge.out].map((o) => o.status === 'accepted' && o.verified)).toEqual(holders.map(() => true));
    expect(judgedLarge.statements).toBe(judgedSmall.statements);
    expect(judgedSmall.statements).toBeLessThanOrEqual(8);
  });

  it('tells the node of another lease still out on a unit, once the unit is verified without it, to drop it', async () => {
    // A second live lease of a checked unit is a race (the queue serves no unit with a live
    // lease): written here as it would be left, to see that the verdict cancels it and its node hears so.
    coordinator = await testCoordinator('pglite');
    const { db } = coordinator.deps;
    const dev = await TestClient.signup(coordinator.url, 'dev-cancel@example.com');
    await dev.useNewKey();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 8, n: 8, seed: 7 }, tile: 8 }, verification: 'check' }, 201);
    const [a, b] = [await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, 'cancel-a@example.com')).useNewKey()), await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, 'cancel-b@example.com')).useNewKey())];
    nodes.push(a, b);
    await a.hello();
    const welcomeB = await b.hello();
    const lease = await a.lease();
    const other = await db.insertInto('attempts')
      .values({ unit_id: lease.unit.id, node_id: welcomeB.nodeId, holder: welcomeB.accountId!, token: 'raced', state: 'leased', deadline: new Date(Date.now() + 60_000) })
      .returning('id').executeTakeFirstOrThrow();
    expect((await a.submitInline(lease, await a.compute(lease))).status).toBe('accepted');
    expect(await b.next('cancel')).toMatchObject({ attemptId: other.id, reason: 'the unit was decided' });
    expect(await db.selectFrom('attempts').select(['state', 'error']).where('id', '=', other.id).executeTakeFirstOrThrow()).toEqual({ state: 'cancelled', error: 'unit verified without this replica' });
  });

  it('counts each of a node\'s results judged in one batch towards its streak and its account\'s record, and measures its speed from them', async () => {
    coordinator = await testCoordinator('pglite');
    const dev = await TestClient.signup(coordinator.url, 'dev-streak@example.com');
    await dev.useNewKey();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 8, n: 8, seed: 6 }, tile: 8 }, verification: 'check' }, 201);
    const node = await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, 'streaker@example.com')).useNewKey());
    nodes.push(node);
    const welcome = await node.hello();
    node.send({ type: 'request', slots: 2 });
    const leases = [await node.next('lease'), await node.next('lease')];
    const frames = await Promise.all(leases.map((lease) => node.inlineResult(lease)));
    const db = coordinator.deps.db;
    expect(await db.selectFrom('nodes').select(['rate_gflops', 'last_result_at']).where('id', '=', welcome.nodeId).executeTakeFirstOrThrow()).toEqual({ rate_gflops: 0, last_result_at: null });
    const sent = Date.now();
    for (const frame of frames) node.send(frame); // together: one batch
    expect([(await node.next('ack')).status, (await node.next('ack')).status]).toEqual(['accepted', 'accepted']);
    const acked = Date.now();
    expect(await metric('supernet_result_batch_results_count')).toBe(1);
    const measured = await db.selectFrom('nodes').select(['valid', 'streak', 'rate_gflops', 'last_result_at']).where('id', '=', welcome.nodeId).executeTakeFirstOrThrow();
    expect({ valid: measured.valid, streak: measured.streak }).toEqual({ valid: 2, streak: 2 });
    // Its speed as the coordinator sees it (it bounds the leases the node may hold): the first
    // result's FLOPs over the time since its lease (at least 1 ms), then the second's over the
    // time since the first (the same moment: 1 ms), smoothed 0.7/0.3. Never what the node says.
    const flops = leases[0]!.unit.flops;
    expect(measured.rate_gflops).toBeGreaterThanOrEqual((0.3 * flops) / 1e6);
    expect(measured.rate_gflops).toBeLessThanOrEqual(flops / 1e6);
    expect(measured.last_result_at!.getTime()).toBeGreaterThanOrEqual(sent - 5);
    expect(measured.last_result_at!.getTime()).toBeLessThanOrEqual(acked + 5);
    expect(await db.selectFrom('accounts').select('valid').where('id', '=', welcome.accountId!).executeTakeFirstOrThrow()).toEqual({ valid: 2 });
  });

  it('refuses a result frame whose data does not hash to its output, and stores nothing', async () => {
    coordinator = await testCoordinator('pglite');
    const dev = await TestClient.signup(coordinator.url, 'dev-forged@example.com');
    await dev.useNewKey();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 5 }, tile: 8 }, verification: 'check' }, 201);
    const node = await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, 'forger@example.com')).useNewKey());
    nodes.push(node);
    await node.hello();
    const lease = await node.lease();
    const right = await node.compute(lease);
    const other = encodeNpy({ ...right, data: right.data.map((v) => v + 1) });
    const ack = await node.submitInline(lease, right, Buffer.from(other).toString('base64'));
    expect(ack).toMatchObject({ status: 'refused', reason: expect.stringContaining('does not hash to its output') });
    expect((await fetch(`${coordinator.url}/api/blobs/${await sha256Hex(encodeNpy(right))}`)).status).toBe(404);
    expect((await fetch(`${coordinator.url}/api/blobs/${await sha256Hex(other)}`)).status).toBe(404);
    // The lease is still current: the right bytes are taken.
    expect(await node.submitInline(lease, right)).toMatchObject({ status: 'accepted' });
  });

  /** A coordinator (`env` for its configuration) with a `check` job of `units` 8×8 tiles, and a node of its own account, welcomed. */
  const withNode = async (name: string, units: number, env: Record<string, string> = {}) => {
    coordinator = await testCoordinator('pglite', env);
    const dev = await TestClient.signup(coordinator.url, `dev-${name}@example.com`);
    await dev.useNewKey();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8 * units, k: 8, n: 8, seed: units }, tile: 8 }, verification: 'check' }, 201);
    const node = await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, `${name}@example.com`)).useNewKey());
    nodes.push(node);
    return { node, welcome: await node.hello() };
  };

  it("serves a node's requests that come one after another in one claim round, and acks a result only after the leases asked for before it", async () => {
    const { node, welcome } = await withNode('asker', 8);
    // A node measured fast may hold more than holdMin leases (server/nodes/leases.ts).
    await coordinator.deps.db.updateTable('nodes').set({ rate_gflops: 1 }).where('id', '=', welcome.nodeId).execute();
    const first = await node.lease();
    const result = await node.inlineResult(first);
    const order: string[] = [];
    node.ws.on('message', (data) => order.push((JSON.parse(String(data)) as { type: string }).type));
    const roundsBefore = await metric('supernet_claim_round_nodes_count');
    // As a node asks: a slot at a time as its units finish, then the result of one of them.
    for (let i = 0; i < 3; i++) node.send({ type: 'request', slots: 1 });
    node.send(result);
    const leases = [await node.next('lease'), await node.next('lease'), await node.next('lease')];
    expect(await node.next('ack')).toMatchObject({ attemptId: first.attemptId, status: 'accepted' });
    expect(new Set([first, ...leases].map((l) => l.unit.id)).size).toBe(4);
    // The first request may start a round before the others are read; the others share the next.
    // (Each request held the socket until its round was over: three rounds, one lease each.)
    expect(await metric('supernet_claim_round_nodes_count') - roundsBefore).toBeLessThanOrEqual(2);
    expect(order).toEqual(['lease', 'lease', 'lease', 'ack']);
  });

  it('acks a failure only after the leases asked for before it', async () => {
    const { node, welcome } = await withNode('failer', 8);
    await coordinator.deps.db.updateTable('nodes').set({ rate_gflops: 1 }).where('id', '=', welcome.nodeId).execute();
    const first = await node.lease();
    const order: string[] = [];
    node.ws.on('message', (data) => order.push((JSON.parse(String(data)) as { type: string }).type));
    for (let i = 0; i < 3; i++) node.send({ type: 'request', slots: 1 });
    node.send({ type: 'fail', attemptId: first.attemptId, token: first.token, reason: 'the kernel did not compile' });
    await node.next('lease');
    await node.next('lease');
    await node.next('lease');
    expect(await node.next('ack')).toMatchObject({ attemptId: first.attemptId, status: 'accepted' });
    expect(order).toEqual(['lease', 'lease', 'lease', 'ack']);
  });

  it('leases again to a node at its holdings bound as soon as its result is judged, not at the next sweep', async () => {
    // No sweep (which clears every node's bound once a second): only the verdict can.
    const { node } = await withNode('bounded', 8, { SUPERNET_SWEEP_MS: '3600000' });
    // Unmeasured, it may hold holdMin (2) leases: the third slot asked for waits.
    node.send({ type: 'request', slots: 3 });
    const held = [await node.next('lease'), await node.next('lease')];
    // Rounds pass it over from here (it is marked full). Its result's verdict, not the frame's
    // arrival (the store counts the lease until then), is what lets the next round serve it.
    node.send(await node.inlineResult(held[0]!));
    expect(await node.next('ack')).toMatchObject({ attemptId: held[0]!.attemptId, status: 'accepted' });
    const next = await node.next('lease');
    expect([held[0]!.unit.id, held[1]!.unit.id]).not.toContain(next.unit.id);
  });

  it("judges other jobs' results while a finished job's result is still being written", async () => {
    // A job's assembly ends in a durable write of its result (100 to 800 ms on this machine's
    // disk for 128 KB): held here until the other job's result is judged.
    coordinator = await testCoordinator('pglite');
    const dev = await TestClient.signup(coordinator.url, 'dev-assembly@example.com');
    await dev.useNewKey();
    const big = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 256, k: 8, n: 128, seed: 8 }, tile: 128 }, verification: 'check' }, 201);
    const small = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 9 }, tile: 8 }, verification: 'check' }, 201);
    const node = await RawNode.connect(coordinator.url, await (await TestClient.signup(coordinator.url, 'assembly-node@example.com')).useNewKey());
    nodes.push(node);
    await node.hello();
    await coordinator.deps.db.updateTable('nodes').set({ streak: trustedStreakMin }).execute(); // no known-answer units
    // The big job's result (256×128 floats, 128 KB) is the only blob over 100 KB written here.
    const bytes = coordinator.deps.blobs.bytes;
    const commit = bytes.commit.bind(bytes);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const writing = new Promise<void>((r) => (reached = r));
    bytes.commit = async (sha256, tmpFile, size) => {
      if (size > 100_000) {
        reached();
        await gate;
      }
      return commit(sha256, tmpFile, size);
    };
    // Both of the big job's units answered, the small job's kept (a new node holds 2 leases at most).
    let smallLease: Lease | undefined;
    node.send({ type: 'request', slots: 2 });
    for (let answered = 0; answered < 2; ) {
      const lease = await node.next('lease');
      if (lease.unit.jobId === small.id) {
        smallLease = lease;
        continue;
      }
      expect(await node.submit(lease, await node.compute(lease))).toMatchObject({ status: 'accepted' });
      answered++;
      if (answered < 2 || !smallLease) node.send({ type: 'request', slots: 1 });
    }
    smallLease ??= await node.next('lease');
    expect(smallLease.unit.jobId).toBe(small.id);
    await writing; // the big job's assembly is at its write
    const verdict = node.submitInline(smallLease, await node.compute(smallLease)).then((ack) => ({ ack }));
    // Awaited in the result loop, the assembly held this verdict until its write was done.
    const first = await Promise.race([verdict, new Promise<'held'>((r) => setTimeout(() => r('held'), 10_000))]).finally(release);
    expect(first).toMatchObject({ ack: { attemptId: smallLease.attemptId, status: 'accepted' } });
    expect((await dev.json('GET', `/api/jobs/${big.id}`)).state).toBe('running'); // still at its write
    expect(await dev.waitForJob(big.id)).toMatchObject({ state: 'done' });
    expect(await dev.waitForJob(small.id)).toMatchObject({ state: 'done' });
  });
});
