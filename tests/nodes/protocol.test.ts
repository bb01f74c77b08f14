import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.ts';
import { startCoordinator, type Coordinator } from '../../server/coordinator.ts';
import { parseNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, freePort, storeEnv, testCoordinator } from '../helpers/coordinator.ts';
import { expectClose, randomSpecReference } from '../helpers/matrices.ts';
import { type Lease, RawNode } from '../helpers/raw-node.ts';
import { storeKinds } from '../helpers/stores.ts';
import { failuresMax, replicasMax } from '../../server/jobs/states.ts';
import { inTransaction } from '../../server/db/index.ts';
import { dealPartners } from '../../server/verify/deal.ts';
import { trustedStreakMin } from '../../server/verify/reputation.ts';

describe.each(storeKinds)('the node protocol (%s)', (store) => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    nodes.splice(0).forEach((n) => n.close());
    await coordinator?.close();
  });

  async function contributor(name: string) {
    const client = await TestClient.signup(coordinator.url, `${name}@example.com`);
    const node = await RawNode.connect(coordinator.url, await client.useNewKey());
    nodes.push(node);
    await node.hello();
    return node;
  }

  /** A developer with one small job: 1 unit (a 16×24 · 24×8 product). */
  async function oneUnitJob(verification: 'replicate' | 'check' = 'replicate', seed = 3) {
    const dev = (await TestClient.signup(coordinator.url, `dev${seed}@example.com`)) as TestClient;
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 24, n: 8, seed } }, verification }, 201);
    return { dev, job };
  }
  const reference = (seed: number) => randomSpecReference(16, 24, 8, seed);

  const rowCounts = async () =>
    Promise.all((['nodes', 'attempts', 'jobs', 'units'] as const).map(async (t) => (await coordinator.deps.db.selectFrom(t).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n));

  it('answers garbage frames with an error frame, changes nothing, and disconnects a node that keeps sending them', async () => {
    coordinator = await testCoordinator(store);
    const node = await RawNode.connect(coordinator.url);
    nodes.push(node);
    const before = await rowCounts();
    node.send('this is not json');
    expect(await node.next('error')).toMatchObject({ code: 'bad_frame', message: expect.stringContaining('not JSON') });
    node.send(JSON.stringify({ type: 'result', attemptId: 'nope' }));
    expect((await node.next('error')).message).toMatch(/does not fit the protocol/);
    node.send({ type: 'request', slots: 1 });
    expect((await node.next('error')).message).toMatch(/hello first/);
    expect(await rowCounts()).toEqual(before);
    node.send('{');
    node.send('[]');
    await eventually(async () => node.closed, 'the socket to close');
    expect(node.closed).toMatchObject({ code: 1008 });
  });

  it('lets an anonymous node work: it uploads with its node token and its result verifies the unit', async () => {
    coordinator = await testCoordinator(store);
    const { dev, job } = await oneUnitJob('check');
    const anon = await RawNode.connect(coordinator.url);
    nodes.push(anon);
    const welcome = await anon.hello();
    expect(welcome).toMatchObject({ accountId: null, token: expect.stringMatching(/^snn_/) });
    const lease = await anon.lease();
    expect(await anon.submit(lease, await anon.compute(lease))).toMatchObject({ status: 'accepted' });
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done' });
    const attempt = await coordinator.deps.db.selectFrom('attempts').select(['holder', 'state']).executeTakeFirstOrThrow();
    expect(attempt).toEqual({ holder: `anon:${welcome.nodeId}`, state: 'valid' });
    // Without its token, an upload is refused.
    expect((await fetch(`${coordinator.url}/api/blobs`, { method: 'PUT', body: 'x' })).status).toBe(401);
  });

  it('refuses a WebSocket with a wrong API key', async () => {
    coordinator = await testCoordinator(store);
    await expect(RawNode.connect(coordinator.url, 'sn_wrong')).rejects.toThrow(/401/);
  });

  it('refuses a result sent with a stale lease token, and one with a forged token', async () => {
    coordinator = await testCoordinator(store, { SUPERNET_LEASE_TTL_MS: '700' });
    const { dev, job } = await oneUnitJob();
    const slow = await contributor('slow');
    const first = await slow.lease();
    // The lease lapses; the sweeper re-queues the unit; another node takes it.
    await eventually(async () => (await coordinator.deps.db.selectFrom('attempts').select('state').where('id', '=', first.attemptId).executeTakeFirst())?.state === 'expired', 'the lease to expire');
    const other = await contributor('other');
    const second = await other.lease();
    expect(second.unit.id).toBe(first.unit.id);
    const right = await slow.compute(first);
    expect(await slow.submit(first, right)).toMatchObject({ status: 'refused', reason: expect.stringMatching(/no longer current/) });
    expect(await other.submit(second, right, 'forged-token')).toMatchObject({ status: 'refused' });
    const job2 = await dev.json('GET', `/api/jobs/${job.id}`);
    expect(job2.progress.verified).toBe(0);
    const states = await coordinator.deps.db.selectFrom('attempts').select('state').where('id', 'in', [first.attemptId, second.attemptId]).execute();
    expect(states.map((s) => s.state).sort()).toEqual(['expired', 'leased']);
  });

  it('keeps a lease alive past its TTL while the node heartbeats, then accepts its result', async () => {
    coordinator = await testCoordinator(store, { SUPERNET_LEASE_TTL_MS: '700' });
    const { dev, job } = await oneUnitJob('check');
    const worker = await contributor('slow-but-alive');
    const lease = await worker.lease();
    // Heartbeats every 200 ms, as a node does for as long as it holds the lease (through the
    // upload too: on a loaded machine that alone can outlast a 700 ms TTL).
    const beat = () => worker.send({ type: 'heartbeat', attempts: [lease.attemptId] });
    beat();
    const heart = setInterval(beat, 200);
    try {
      await new Promise((r) => setTimeout(r, 2000)); // almost 3 TTLs
      const attempt = await coordinator.deps.db.selectFrom('attempts').select(['state', 'deadline']).where('id', '=', lease.attemptId).executeTakeFirstOrThrow();
      expect(attempt.state).toBe('leased');
      expect(attempt.deadline.getTime()).toBeGreaterThan(lease.deadline + 1000);
      expect(await worker.submit(lease, await worker.compute(lease))).toMatchObject({ status: 'accepted' });
    } finally {
      clearInterval(heart);
    }
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done' });
  });


  it('a replica whose result comes after its deadline is refused, and the unit is dealt again at once (not left waiting)', async () => {
    coordinator = await testCoordinator(store);
    const { dev, job } = await oneUnitJob('replicate');
    const [first, late] = [await contributor('first'), await contributor('late')];
    const lease = await first.lease();
    expect(await first.submit(lease, await first.compute(lease))).toMatchObject({ status: 'accepted' });
    const second = await late.lease(); // the only eligible partner: dealt to it
    expect(second.unit.id).toBe(lease.unit.id);
    const right = await late.compute(second);
    // Its deadline passes before the result comes; the result lands before the sweeper looks.
    await coordinator.deps.db.updateTable('attempts').set({ deadline: new Date(Date.now() - 1000) }).where('id', '=', second.attemptId).execute();
    expect(await late.submit(second, right)).toMatchObject({ status: 'refused', reason: expect.stringMatching(/expired/) });
    // One replica returned, none in flight: without a deal nobody could ever take the unit
    // (the queue serves only units with no replica returned).
    const again = await late.lease();
    expect(again.unit.id).toBe(lease.unit.id);
    expect(await late.submit(again, right)).toMatchObject({ status: 'accepted' });
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done' });
    // The lapse counts against the late node, as the sweeper's would.
    expect((await coordinator.deps.db.selectFrom('nodes').select('expired').orderBy('expired', 'desc').execute()).map((n) => n.expired)).toEqual([1, 0]);
  });
  it('never accepts wrong numbers: a disagreement calls a third replica and the liar is marked invalid', async () => {
    coordinator = await testCoordinator(store);
    const { dev, job } = await oneUnitJob();
    const liar = await contributor('liar');
    const honest1 = await contributor('honest1');
    const honest2 = await contributor('honest2');
    const liarLease = await liar.lease();
    const right = await liar.compute(liarLease);
    const wrong = { ...right, data: right.data.map((v, i) => (i === 5 ? v + 0.5 : v)) };
    expect(await liar.submit(liarLease, wrong)).toMatchObject({ status: 'accepted' }); // received; not yet judged
    // The second replica is dealt to one of the honest nodes at random, the tie-break to the other.
    const honest = [honest1, honest2];
    honest.forEach((h) => h.send({ type: 'request', slots: 1 }));
    const dealt = async () =>
      eventually(async () => {
        for (const h of honest) {
          const i = h.received.findIndex((m) => m.type === 'lease');
          if (i >= 0) return [h, h.received.splice(i, 1)[0] as Lease] as const;
        }
        return null;
      }, 'a dealt replica', 15_000, 50);
    const [first, lease1] = await dealt();
    expect(lease1.unit.id).toBe(liarLease.unit.id);
    expect(await first.submit(lease1, right)).toMatchObject({ status: 'accepted' });
    expect((await dev.json('GET', `/api/jobs/${job.id}`)).progress.verified).toBe(0);
    const [second, lease2] = await dealt(); // the tie-break replica
    expect(second).not.toBe(first);
    expect(lease2.unit.id).toBe(liarLease.unit.id);
    await second.submit(lease2, right);
    const done = await dev.waitForJob(job.id);
    expect(done.state).toBe('done');
    const liarAttempt = await coordinator.deps.db.selectFrom('attempts').select('state').where('id', '=', liarLease.attemptId).executeTakeFirstOrThrow();
    expect(liarAttempt.state).toBe('invalid');
    const result = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/result`)).arrayBuffer()));
    expectClose(result, reference(3), 24);
  });

  it('does not fail a job when a unit\'s first six replicas went to six liars each lying its own way: it asks on, and honest nodes finish it', async () => {
    coordinator = await testCoordinator(store);
    const { dev, job } = await oneUnitJob();
    const liars = await Promise.all(Array.from({ length: replicasMax }, (_, i) => contributor(`liar-${i}`)));
    /** The next replica dealt to one of these nodes (each asks for one). */
    const dealt = async (among: RawNode[]) => {
      among.forEach((n) => n.send({ type: 'request', slots: 1 }));
      return eventually(async () => {
        for (const n of among) {
          const i = n.received.findIndex((m) => m.type === 'lease');
          if (i >= 0) return [n, n.received.splice(i, 1)[0] as Lease] as const;
        }
        return null;
      }, 'a dealt replica', 15_000, 50);
    };
    let left = [...liars];
    for (let i = 0; i < replicasMax; i++) {
      const [liar, lease] = i === 0 ? ([liars[0]!, await liars[0]!.lease()] as const) : await dealt(left);
      left = left.filter((n) => n !== liar);
      const right = await liar.compute(lease);
      expect(await liar.submit(lease, { ...right, data: right.data.map((v, k) => (k === i ? v + 1 + i : v)) })).toMatchObject({ status: 'accepted' });
    }
    // Six results, no two alike, none from a trusted node: evidence about the liars, not the unit.
    await eventually(async () => ((await coordinator.deps.db.selectFrom('units').select('replicas').executeTakeFirstOrThrow()).replicas > replicasMax ? true : null), 'a seventh replica asked for', 15_000, 50);
    expect((await dev.json('GET', `/api/jobs/${job.id}`)).state).toBe('running');
    const honest = [await contributor('honest-a'), await contributor('honest-b')];
    for (let waiting = honest; waiting.length; ) {
      const [node, lease] = await dealt(waiting);
      waiting = waiting.filter((n) => n !== node);
      expect(await node.submit(lease, await node.compute(lease))).toMatchObject({ status: 'accepted' });
    }
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done', progress: { verified: 1 } });
    const states = await coordinator.deps.db.selectFrom('attempts').innerJoin('nodes', 'nodes.id', 'attempts.node_id').select(['nodes.name', 'attempts.state']).execute();
    expect(states.filter((a) => a.state === 'invalid')).toHaveLength(replicasMax);
    expect(states.filter((a) => a.state === 'valid')).toHaveLength(2);
    expectClose(parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/result`)).arrayBuffer())), reference(3), 24);
  });

  it('deals a tie-break to a trusted node when one is connected: after a disagreement, an unproven partner may be another liar', async () => {
    coordinator = await testCoordinator(store);
    await oneUnitJob();
    const liar = await contributor('tie-liar');
    const first = await contributor('tie-first');
    const lease = await liar.lease();
    const right = await liar.compute(lease);
    await liar.submit(lease, { ...right, data: right.data.map((v, k) => (k === 0 ? v + 1 : v)) });
    first.send({ type: 'request', slots: 1 });
    const second = await first.next('lease', 15_000);
    await first.submit(second as Lease, right);
    const db = coordinator.deps.db;
    await eventually(async () => ((await db.selectFrom('units').select('replicas').executeTakeFirstOrThrow()).replicas === 3 ? true : null), 'a tie-break asked for', 15_000, 50);
    await Promise.all(Array.from({ length: 8 }, (_, i) => contributor(`tie-stranger-${i}`)));
    await contributor('tie-trusted');
    const trustedId = (await db.selectFrom('nodes').innerJoin('accounts', 'accounts.id', 'nodes.account_id').select('nodes.id').where('accounts.email', '=', 'tie-trusted@example.com').executeTakeFirstOrThrow()).id;
    await db.updateTable('nodes').set({ streak: trustedStreakMin }).where('id', '=', trustedId).execute();
    // Drawn ten times over: uniform over the nine, all ten would be the trusted one with odds of 9⁻¹⁰.
    const drawn: (string | null)[] = [];
    for (let i = 0; i < 10; i++) {
      await db.updateTable('units').set({ partner_node: null, partner_due: null }).execute();
      await inTransaction(db, (trx) => dealPartners(trx, [lease.unit.id], coordinator.deps.config.leaseTtlMs));
      drawn.push((await db.selectFrom('units').select('partner_node').executeTakeFirstOrThrow()).partner_node);
    }
    expect(drawn).toEqual(Array(10).fill(trustedId));
  });

  it("with the check (Freivalds' test), checks each result alone: a lie is refused at once, the truth verifies the unit in one execution", async () => {
    coordinator = await testCoordinator(store);
    const { dev, job } = await oneUnitJob('check');
    expect(job).toMatchObject({ verification: 'check', estimate: { flops: 2 * 16 * 24 * 8 } });
    const liar = await contributor('liar');
    const honest = await contributor('honest');
    const lease = await liar.lease();
    const right = await liar.compute(lease);
    const wrong = { ...right, data: right.data.map((v, i) => (i === 17 ? v * 1.02 : v)) };
    expect(await liar.submit(lease, wrong)).toMatchObject({ status: 'refused', reason: expect.stringMatching(/failed verification/) });
    const second = await honest.lease();
    expect(await honest.submit(second, await honest.compute(second))).toMatchObject({ status: 'accepted' });
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done', progress: { verified: 1 } });
    const attempts = await coordinator.deps.db.selectFrom('attempts').select(['holder', 'state']).orderBy('created_at').execute();
    expect(attempts.map((a) => a.state)).toEqual(['invalid', 'valid']);
    const result = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/result`)).arrayBuffer()));
    expectClose(result, reference(3), 24);
  });

  it('counts reputation, drops a liar\'s streak to zero, and quarantines an account on its second lie', async () => {
    coordinator = await testCoordinator(store);
    const liar = await contributor('repeat');
    const db = coordinator.deps.db;
    const nodeOf = async () => db.selectFrom('nodes').select(['valid', 'invalid', 'streak', 'account_id']).executeTakeFirstOrThrow();
    const lieOnce = async (seed: number, honestly: boolean) => {
      await oneUnitJob('check', seed);
      const lease = await liar.lease();
      const right = await liar.compute(lease);
      return liar.submit(lease, honestly ? right : { ...right, data: right.data.map((v) => v + 1) });
    };
    expect(await lieOnce(1, true)).toMatchObject({ status: 'accepted' });
    expect(await lieOnce(2, true)).toMatchObject({ status: 'accepted' });
    expect(await nodeOf()).toMatchObject({ valid: 2, invalid: 0, streak: 2 });
    expect(await lieOnce(4, false)).toMatchObject({ status: 'refused' });
    expect(await nodeOf()).toMatchObject({ valid: 2, invalid: 1, streak: 0 });
    expect(await lieOnce(5, false)).toMatchObject({ status: 'refused' });
    const account = await db.selectFrom('accounts').select(['invalid', 'quarantined_at']).where('id', '=', (await nodeOf()).account_id!).executeTakeFirstOrThrow();
    expect(account.invalid).toBe(2);
    expect(account.quarantined_at).not.toBeNull();
    const me = await (await fetch(`${coordinator.url}/api/me`, { headers: { authorization: `Bearer ${liar.key}` } })).json();
    expect(me.reputation).toEqual({ valid: 2, invalid: 2, expired: 0, trust: 0, quarantined: true });
    await oneUnitJob('check', 6);
    liar.send({ type: 'request', slots: 1 });
    expect(await liar.next('error')).toMatchObject({ code: 'quarantined' });
    await expect(liar.next('lease', 1000)).rejects.toThrow(/no lease/);
  });

  it('fails a job only on evidence about its unit: the same unit failing on 8 distinct nodes; before that, each failure sends it to another node', async () => {
    coordinator = await testCoordinator(store);
    const { dev, job } = await oneUnitJob('check');
    const failing = await Promise.all(Array.from({ length: failuresMax }, (_, i) => contributor(`failing${i}`)));
    for (const [i, n] of failing.entries()) {
      const lease = await n.lease(); // the one unit, each time to a node it has not failed on
      expect(lease.unit.jobId).toBe(job.id);
      n.send({ type: 'fail', attemptId: lease.attemptId, token: lease.token, reason: 'shader compilation failed' });
      expect(await n.next('ack')).toMatchObject({ status: 'accepted' });
      const state = await dev.json('GET', `/api/jobs/${job.id}`);
      if (i < failuresMax - 1) expect(state.state).toBe('running');
      else expect(state).toMatchObject({ state: 'failed', error: `A unit failed: it failed on ${failuresMax} different nodes; the last said: shader compilation failed.` });
    }
  });

  it('never leases a unit to a node without its workload kind, and leases it to one that has it', async () => {
    coordinator = await testCoordinator(store);
    await oneUnitJob('check');
    const client = await TestClient.signup(coordinator.url, 'renderer@example.com');
    const other = await RawNode.connect(coordinator.url, await client.useNewKey());
    nodes.push(other);
    await other.hello({ kinds: ['render'] });
    other.send({ type: 'request', slots: 2 });
    await expect(other.next('lease', 2500)).rejects.toThrow(/no lease/);
    const matmul = await contributor('matmul-node');
    expect((await matmul.lease()).unit.kind).toBe('matmul');
  });

  it('never gives two replicas of one unit to one account', async () => {
    coordinator = await testCoordinator(store);
    await oneUnitJob();
    const client = await TestClient.signup(coordinator.url, 'twice@example.com');
    const key = await client.useNewKey();
    const a = await RawNode.connect(coordinator.url, key);
    const b = await RawNode.connect(coordinator.url, key);
    nodes.push(a, b);
    await a.hello();
    await b.hello();
    await a.lease();
    b.send({ type: 'request', slots: 1 });
    await expect(b.next('lease', 1500)).rejects.toThrow(/no lease/);
  });

  it('pause leases a node nothing more; a released lease goes to another node at once and counts against no one', async () => {
    coordinator = await testCoordinator(store, { SUPERNET_LEASE_TTL_MS: '60000' });
    await oneUnitJob('check', 7);
    const a = await contributor('pauser');
    const first = await a.lease();
    a.send({ type: 'release', attemptId: first.attemptId, token: first.token, reason: 'the node paused' });
    const b = await contributor('taker');
    const again = await b.lease(); // not after the 60 s lease ran out: now
    expect(again.unit.id).toBe(first.unit.id);
    const released = await coordinator.deps.db.selectFrom('attempts').select(['state', 'error']).where('id', '=', first.attemptId).executeTakeFirstOrThrow();
    expect(released).toEqual({ state: 'cancelled', error: 'released by the node: the node paused' });
    expect((await coordinator.deps.db.selectFrom('nodes').select('expired').where('id', '=', (await coordinator.deps.db.selectFrom('attempts').select('node_id').where('id', '=', first.attemptId).executeTakeFirstOrThrow()).node_id).executeTakeFirstOrThrow()).expired).toBe(0);
    // Asked for work, then paused before any came: the next job is not leased to it.
    a.send({ type: 'request', slots: 1 });
    a.send({ type: 'pause' });
    await oneUnitJob('check', 8);
    await expect(a.next('lease', 1500)).rejects.toThrow(/no lease/);
    expect((await a.lease()).unit.id).not.toBe(first.unit.id);
  });

  it('a node resumed after a reload keeps what it names; its other leases go back at once; a repeated result counts once', async () => {
    coordinator = await testCoordinator(store, { SUPERNET_LEASE_TTL_MS: '60000' });
    const dev = await TestClient.signup(coordinator.url, 'dev-resume@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 32, k: 24, n: 8, seed: 9 }, tile: 16 }, verification: 'check' }, 201);
    const a = await contributor('reloader');
    const row = await coordinator.deps.db.selectFrom('nodes').select(['id']).executeTakeFirstOrThrow();
    a.send({ type: 'request', slots: 2 });
    const [done, lost] = [await a.next('lease'), await a.next('lease')];
    const output = await a.compute(done);
    expect(await a.submit(done, output)).toMatchObject({ status: 'accepted' });
    a.close();
    // The reloaded tab: same node (its id and token were kept), holding only the finished one.
    const b = await RawNode.connect(coordinator.url, a.key);
    nodes.push(b);
    await b.hello({ resume: { nodeId: row.id, token: a.nodeToken! }, holding: [done.attemptId] });
    const gone = await coordinator.deps.db.selectFrom('attempts').select(['state', 'error']).where('id', '=', lost.attemptId).executeTakeFirstOrThrow();
    expect(gone).toEqual({ state: 'cancelled', error: 'the node restarted without it' });
    // Its ack was lost: it sends the same result again, and it counts once.
    expect(await b.submit(done, output)).toMatchObject({ status: 'accepted' });
    const again = await b.lease();
    expect(again.unit.id).toBe(lost.unit.id);
    expect(await b.submit(again, await b.compute(again))).toMatchObject({ status: 'accepted' });
    const finished = await dev.waitForJob(job.id);
    expect(finished).toMatchObject({ state: 'done', progress: { units: 2, verified: 2 } });
    const pays = await coordinator.deps.db.selectFrom('transfers').select('id').where('kind', '=', 'post').where('code', '=', 'verified').execute();
    expect(pays).toHaveLength(2);
  });

  it('a lease outlives a coordinator restart longer than its lease time: the node comes back, resumes, and its result counts', async () => {
    // No drain: this node does not heartbeat, and a drain's sweeps would lapse its lease before the restart.
    const env = { ...(await storeEnv(store)), PORT: String(await freePort()), SUPERNET_LEASE_TTL_MS: '3000', SUPERNET_SHUTDOWN_GRACE_MS: '0' };
    coordinator = await startCoordinator(loadConfig(env));
    const { dev, job } = await oneUnitJob('check', 11);
    const a = await contributor('steady');
    const nodeId = (await coordinator.deps.db.selectFrom('nodes').select('id').executeTakeFirstOrThrow()).id;
    const lease = await a.lease();
    const output = await a.compute(lease);
    await coordinator.close();
    a.close();
    // Down for longer than the lease time: the lease's deadline passes while nobody is there.
    await new Promise((r) => setTimeout(r, 3500));
    coordinator = await startCoordinator(loadConfig(env));
    // The node backs off before it reconnects: the new coordinator's first sweeps run meanwhile.
    await new Promise((r) => setTimeout(r, 1500));
    const b = await RawNode.connect(coordinator.url, a.key);
    nodes.push(b);
    await b.hello({ resume: { nodeId, token: a.nodeToken! }, holding: [lease.attemptId] });
    expect(await b.submit(lease, output)).toMatchObject({ status: 'accepted' });
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done' });
    expect((await coordinator.deps.db.selectFrom('nodes').select('expired').where('id', '=', nodeId).executeTakeFirstOrThrow()).expired).toBe(0);
  });
});
