import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { parseNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, testCoordinator } from '../helpers/coordinator.ts';
import { expectClose, randomSpecReference } from '../helpers/matrices.ts';
import { RawNode, type Lease } from '../helpers/raw-node.ts';
import { storeKinds } from '../helpers/stores.ts';

describe.each(storeKinds)('adaptive replication and re-checks (%s)', (store) => {
  let coordinator: Coordinator;
  const nodes: RawNode[] = [];
  afterEach(async () => {
    nodes.splice(0).forEach((n) => n.close());
    await coordinator?.close();
  });

  async function node(name: string, localAddress?: string) {
    const client = await TestClient.signup(coordinator.url, `${name}@example.com`);
    const n = await RawNode.connect(coordinator.url.replace('localhost', '127.0.0.1'), await client.useNewKey(), localAddress);
    nodes.push(n);
    const welcome = await n.hello();
    return Object.assign(n, { nodeId: welcome.nodeId, accountId: welcome.accountId });
  }
  const jobState = (dev: TestClient, id: string) => dev.json('GET', `/api/jobs/${id}`);
  /** The node dealt the unit's next replica (server/verify/deal.ts), if any. */
  const dealtTo = async (unitId: string) => (await coordinator.deps.db.selectFrom('units').select('partner_node').where('id', '=', unitId).executeTakeFirstOrThrow()).partner_node;
  /** A result that is wrong in one entry: a liar's cheapest lie. */
  const wrong = async (n: RawNode, l: Lease) => {
    const right = await n.compute(l);
    return n.submit(l, { ...right, data: right.data.map((v, i) => (i === 0 ? v + 1 : v)) });
  };
  /** Leases the unit dealt to `n` (waits for the deal), submits its right result, and returns the lease. */
  const dealtAndRight = async (n: RawNode & { nodeId: string }, unitId: string) => {
    await eventually(async () => (await dealtTo(unitId)) === n.nodeId, `${unitId} dealt to ${n.nodeId}`);
    const l = await n.lease();
    expect(l.unit.id).toBe(unitId);
    await n.submit(l, await n.compute(l));
    return l;
  };
  const lone = async (lease: Lease) => (await coordinator.deps.db.selectFrom('attempts').select('lone').where('id', '=', lease.attemptId).executeTakeFirstOrThrow()).lone;

  it('lets a trusted node run a unit alone, but holds the job until a second replica confirms it', async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    const trusted = await node('trusted');
    const other = await node('other');
    // A long unbroken record (set directly here): spot-check rate 5%, so most fresh units run alone.
    await coordinator.deps.db.updateTable('nodes').set({ streak: 10_000 }).where('id', '=', trusted.nodeId).execute();
    let job, lease;
    for (let seed = 1; ; seed++) {
      job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed } }, verification: 'replicate' }, 201);
      lease = await trusted.lease();
      if (await lone(lease)) break;
      await dev.json('DELETE', `/api/jobs/${job.id}`); // a spot check this time: try another job
      expect(seed).toBeLessThan(20);
    }
    expect(await trusted.submit(lease, await trusted.compute(lease))).toMatchObject({ status: 'accepted' });
    // Provisional: no spot check since the lease, so the job waits for a second replica.
    const second = await other.lease();
    expect(second.unit.id).toBe(lease.unit.id);
    expect((await jobState(dev, job.id)).state).toBe('running');
    await other.submit(second, await other.compute(second));
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done' });
    const after = await coordinator.deps.db.selectFrom('attempts').select(['state', 'lone']).where('unit_id', '=', lease.unit.id).execute();
    expect(after).toEqual([{ state: 'valid', lone: false }, { state: 'valid', lone: false }]);
  });

  it('tests new nodes with known-answer units: a liar is caught without touching the unit, the honest gain a streak', async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 2 } }, verification: 'replicate' }, 201);
    const [h1, h2] = [await node('veteran1'), await node('veteran2')];
    for (const h of [h1, h2]) {
      const l = await h.lease();
      await h.submit(l, await h.compute(l));
    }
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done' });
    await coordinator.deps.db.updateTable('nodes').set({ streak: 20 }).where('id', 'in', [h1.nodeId, h2.nodeId]).execute(); // both trusted
    const db = coordinator.deps.db;
    for (const [name, honest] of [['newbie-liar', false], ['newbie-honest', true]] as const) {
      const n = await node(name);
      n.send({ type: 'request', slots: 1 });
      const lease = await n.next('lease', 60_000); // nothing else is queued: only a known answer can come (1 claim in 5, about one claim a second)
      const attempt = await db.selectFrom('attempts').select(['known', 'unit_id']).where('id', '=', lease.attemptId).executeTakeFirstOrThrow();
      expect(attempt.known).toBe(true);
      const right = await n.compute(lease);
      const ack = await n.submit(lease, honest ? right : { ...right, data: right.data.map((v) => v + 0.5) });
      expect(ack.status).toBe(honest ? 'accepted' : 'refused');
      expect(await db.selectFrom('nodes').select(['valid', 'invalid', 'streak']).where('id', '=', n.nodeId).executeTakeFirstOrThrow()).toEqual(honest ? { valid: 1, invalid: 0, streak: 1 } : { valid: 0, invalid: 1, streak: 0 });
    }
    const unit = await db.selectFrom('units').select(['state', 'result_sha256']).executeTakeFirstOrThrow();
    expect(unit.state).toBe('verified');
    expect((await dev.json('GET', `/api/jobs/${job.id}`)).state).toBe('done');
  }, 150_000);

  it('never gives two replicas of a unit to one network, even to different accounts', async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 8, k: 8, n: 8, seed: 1 } }, verification: 'replicate' }, 201);
    const a = await node('same-net-a', '127.0.0.2'); // both in 127.0.0.0/24
    const b = await node('same-net-b', '127.0.0.3');
    const first = await a.lease();
    await a.submit(first, await a.compute(first));
    b.send({ type: 'request', slots: 1 });
    await expect(b.next('lease', 1500)).rejects.toThrow(/no lease/);
    const elsewhere = await node('other-net', '127.0.1.2'); // 127.0.1.0/24
    expect((await elsewhere.lease()).unit.id).toBe(first.unit.id);
  });

  it('decides a unit reopened at its cap on the results it holds: no replica is dealt, the sweeper verifies it again and tells a node still holding a lease of it to drop it', async () => {
    coordinator = await testCoordinator(store);
    const db = coordinator.deps.db;
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    const [a, b] = [await node('a'), await node('b')];
    // Two units, so the job stays open; two honest replicas of the first agree and verify it.
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 8, n: 8, seed: 5 }, tile: 8 }, verification: 'replicate' }, 201);
    const first = await a.lease();
    await a.submit(first, await a.compute(first));
    expect(await eventually(() => dealtTo(first.unit.id), 'a partner dealt')).toBe(b.nodeId);
    const second = await b.lease();
    expect(second.unit.id).toBe(first.unit.id);
    await b.submit(second, await b.compute(second));
    expect((await jobState(dev, job.id)).progress.verified).toBe(1);
    const c = await node('c'); // joins now: the partner above was dealt between a and b only
    // Its verdict withdrawn as reopenSupported does at reopenedReplicasMax (server/verify/adaptive.ts):
    // back to pending, its results back to 'returned', asking for no more results than it holds.
    // (Reached in a chaos run with 16; set directly here.) And a suspect's lease of it is out: a
    // caught node's replicas do not vote, so the unit still stalls.
    const held = await db.transaction().execute(async (trx) => {
      await trx.updateTable('attempts').set({ state: 'returned' }).where('unit_id', '=', first.unit.id).where('state', '=', 'valid').execute();
      await trx.updateTable('units').set({ state: 'pending', result_sha256: null, verified_at: null, replicas: 2, partner_node: null, partner_due: new Date() }).where('id', '=', first.unit.id).execute();
      await trx.updateTable('jobs').set((eb) => ({ units_verified: eb('units_verified', '-', 1) })).where('id', '=', job.id).execute();
      return trx.insertInto('attempts')
        .values({ unit_id: first.unit.id, node_id: c.nodeId, holder: c.accountId!, token: 'suspect', state: 'leased', suspect: true, deadline: new Date(Date.now() + 60_000) })
        .returning('id').executeTakeFirstOrThrow();
    });
    const unit = async () => db.selectFrom('units').select(['state', 'partner_node']).where('id', '=', first.unit.id).executeTakeFirstOrThrow();
    await eventually(async () => (await unit()).state === 'verified', 'the reopened unit decided by the sweeper', 15_000);
    expect(await unit()).toEqual({ state: 'verified', partner_node: null });
    expect(await c.next('cancel')).toMatchObject({ attemptId: held.id, reason: 'the unit was decided' });
    expect((await db.selectFrom('attempts').select('state').where('id', '=', held.id).executeTakeFirstOrThrow()).state).toBe('cancelled');
    const attempts = await db.selectFrom('attempts').select('state').where('unit_id', '=', first.unit.id).where('known', '=', false).where('suspect', '=', false).execute();
    expect(attempts.map((x) => x.state)).toEqual(['valid', 'valid']);
    expect((await jobState(dev, job.id)).progress.verified).toBe(1);
  });

  it('leaves a verdict standing when it holds without the caught node: no replica is asked for, and its losers are not judged again', async () => {
    coordinator = await testCoordinator(store);
    const db = coordinator.deps.db;
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    // Three units. Nodes join one by one, so each replica has one node it can be dealt to.
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 24, k: 8, n: 8, seed: 7 }, tile: 8 }, verification: 'replicate' }, 201);
    const [x, turncoat] = [await node('x'), await node('turncoat')];
    const unit = async (id: string) => db.selectFrom('units').select('state').where('id', '=', id).executeTakeFirstOrThrow();
    const attemptsOf = (id: string) => db.selectFrom('attempts').innerJoin('nodes', 'nodes.id', 'attempts.node_id').select(['attempts.node_id', 'attempts.state', 'attempts.suspect']).where('unit_id', '=', id).orderBy('attempts.created_at').execute();
    // Unit 1: x lies; the turncoat, honest while it earns its place, is right; h1 breaks the tie.
    const x1 = await x.lease();
    await wrong(x, x1);
    const u1 = x1.unit.id;
    await dealtAndRight(turncoat, u1);
    const h1 = await node('h1');
    await dealtAndRight(h1, u1);
    expect(await unit(u1)).toEqual({ state: 'verified' });
    x.close();
    await eventually(async () => (await db.selectFrom('nodes').select('disconnected_at').where('id', '=', x.nodeId).executeTakeFirstOrThrow()).disconnected_at, 'x gone');
    // Unit 2: the turncoat lies and is outvoted by h1 and h2. Unit 1's verdict (turncoat + h1)
    // does not hold without it: judged again, with x's result back, and h2 is dealt it.
    const t2 = await turncoat.lease();
    await wrong(turncoat, t2);
    await dealtAndRight(h1, t2.unit.id);
    const h2 = await node('h2');
    await dealtAndRight(h2, t2.unit.id);
    expect(await unit(t2.unit.id)).toEqual({ state: 'verified' });
    await dealtAndRight(h2, u1);
    expect(await unit(u1)).toEqual({ state: 'verified' });
    const before = await attemptsOf(u1);
    expect(before.map((a) => [a.node_id, a.state])).toEqual([[x.nodeId, 'invalid'], [turncoat.nodeId, 'valid'], [h1.nodeId, 'valid'], [h2.nodeId, 'valid']]);
    // Unit 3: the turncoat lies again and is caught again. Unit 1 holds without it (h1 and h2):
    // it stands — x is not judged again, no replica is asked for, and the job completes.
    const t3 = await turncoat.lease();
    await wrong(turncoat, t3);
    const first = await eventually(() => dealtTo(t3.unit.id), 'a partner dealt');
    const [a, b] = first === h1.nodeId ? [h1, h2] : [h2, h1];
    await dealtAndRight(a, t3.unit.id);
    await dealtAndRight(b, t3.unit.id);
    expect(await dev.waitForJob(job.id, 30_000)).toMatchObject({ state: 'done', progress: { verified: 3 } });
    const after = await attemptsOf(u1);
    expect(after.map((a) => [a.node_id, a.state, a.suspect])).toEqual([[x.nodeId, 'invalid', false], [turncoat.nodeId, 'valid', true], [h1.nodeId, 'valid', false], [h2.nodeId, 'valid', false]]);
    expect((await db.selectFrom('nodes').select('invalid').where('id', '=', x.nodeId).executeTakeFirstOrThrow()).invalid).toBe(1);
  });

  it('re-checks the units a caught node helped verify: a colluding pair cannot keep a wrong unit', async () => {
    coordinator = await testCoordinator(store);
    const dev = await TestClient.signup(coordinator.url, 'dev@example.com');
    await dev.useNewKey();
    const [c1, c2, h1, h2] = [await node('colluder1'), await node('colluder2'), await node('honest1'), await node('honest2')];
    // Two units; the colluders must land on the same one: once colluder1 has committed its
    // result, the second replica is dealt at random among the three other nodes, so the pair is
    // there one time in three (the job is cancelled and tried again otherwise).
    let job, a1, a2;
    for (let seed = 1; ; seed++) {
      job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 8, n: 8, seed }, tile: 8 }, verification: 'replicate' }, 201);
      a1 = await c1.lease();
      await wrong(c1, a1);
      if ((await eventually(() => dealtTo(a1!.unit.id), 'a partner dealt')) === c2.nodeId) {
        a2 = await c2.lease();
        break;
      }
      await dev.json('DELETE', `/api/jobs/${job.id}`);
      expect(seed).toBeLessThan(40);
    }
    expect(a2.unit.id).toBe(a1.unit.id);
    await wrong(c2, a2);
    expect((await jobState(dev, job.id)).progress.verified).toBe(1); // the pair agreed: verified, for now
    c2.close(); // its part is done; the honest nodes are the only partners left
    await eventually(async () => (await coordinator.deps.db.selectFrom('nodes').select('disconnected_at').where('id', '=', c2.nodeId).executeTakeFirstOrThrow()).disconnected_at, 'colluder2 gone');
    // colluder1 lies again on the other unit, next to honest nodes, and is caught.
    const b1 = await c1.lease();
    await wrong(c1, b1);
    const honest = [h1, h2];
    const dealtHonest = async (unitId: string) => {
      const id = await eventually(() => dealtTo(unitId), 'a partner dealt');
      return honest.find((h) => h.nodeId === id)!;
    };
    for (let i = 0; i < 2; i++) {
      const h = await dealtHonest(b1.unit.id);
      const l = await h.lease();
      expect(l.unit.id).toBe(b1.unit.id);
      await h.submit(l, await h.compute(l));
    }
    // Its partner's unit is open again: the honest nodes are dealt it and settle it.
    await eventually(async () => (await coordinator.deps.db.selectFrom('units').select('state').where('id', '=', a1!.unit.id).executeTakeFirstOrThrow()).state === 'pending', 'the colluded unit to reopen');
    for (let i = 0; i < 2; i++) {
      const h = await dealtHonest(a1.unit.id);
      const l = await h.lease();
      expect(l.unit.id).toBe(a1.unit.id);
      await h.submit(l, await h.compute(l));
    }
    expect(await dev.waitForJob(job.id)).toMatchObject({ state: 'done', progress: { verified: 2 } });
    const result = parseNpy(new Uint8Array(await (await dev.call('GET', `/api/jobs/${job.id}/result`)).arrayBuffer()));
    const seed = (await jobState(dev, job.id)).spec.random.seed;
    expectClose(result, randomSpecReference(16, 8, 8, seed), 8);
    const states = await coordinator.deps.db.selectFrom('attempts').select('state').where('id', 'in', [a1.attemptId, a2.attemptId]).execute();
    expect(states.map((s) => s.state)).toEqual(['invalid', 'invalid']);
  });
});
