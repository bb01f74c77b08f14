import { afterEach, describe, expect, it } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { holdMin, leaseLifeTtls, releasesPerHourMax } from '../../server/nodes/leases.ts';
import { sha256Hex } from '../../server/agent/runtime.ts';
import { encodeNpy } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually, testCoordinator } from '../helpers/coordinator.ts';
import type { Lease } from '../helpers/raw-node.ts';
import { earnTrust, expectRightResult, honest, isLone, member, paidTo, watchJob, work, wrongTile, type Act, type Member } from './crowd.ts';

/**
 * The attacks a few accounts can make through the public API and the node protocol, each as
 * an attacker would play it: patient (trust earned honestly first), organised (a ring that shares
 * what it holds out of band), cheap (releases, copies, floods). Each node on its own network.
 * The promise under test: 0 wrong units in jobs marked done, 0 credits for a lie, 0 honest
 * accounts left quarantined, no job stalled while honest nodes are connected.
 */
describe('adversaries', () => {
  let coordinator: Coordinator;
  let everyone: Member[] = [];
  afterEach(async () => {
    everyone.forEach((m) => m.close());
    everyone = [];
    await coordinator?.close();
  });

  async function setup(names: string[], leaseTtlMs = 10_000) {
    coordinator = await testCoordinator('pglite', { SUPERNET_LEASE_TTL_MS: String(leaseTtlMs) });
    const dev = await TestClient.signup(coordinator.url, 'developer@crowd.test');
    await dev.useNewKey();
    const members: Member[] = [];
    for (const name of names) members.push(await member(coordinator, name));
    everyone = members;
    return { dev, members };
  }
  const target = { m: 48, k: 8, n: 64, seed: 7 }; // 48 units of 8×8
  const submitTarget = (dev: TestClient) => dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: target, tile: 8 }, verification: 'replicate' }, 201);
  const jobState = async (dev: TestClient, id: string) => (await dev.json('GET', `/api/jobs/${id}`)).state;
  const ended = (state: string) => ['done', 'failed', 'cancelled'].includes(state);
  const attemptsOf = async (m: Member) => coordinator.deps.db.selectFrom('attempts').selectAll().where('node_id', '=', m.nodeId).execute();

  it('hit and run: a trusted node that lies once on a unit it runs alone and leaves gets nothing through', async () => {
    const { dev, members } = await setup(['honest1', 'honest2', 'honest3', 'runner1', 'runner2', 'runner3']);
    const runners = members.slice(3);
    await earnTrust(coordinator, dev, members, runners);
    const job = await submitTarget(dev);
    const lies: string[] = [];
    // Worst case: it sees which lease is lone. It holds a spot check back, lies on the lone unit,
    // then hands in the held spot check honestly (so it passes one) and is gone.
    const hitAndRun = (m: Member) => {
      let held: Lease | null = null;
      return async (lease: Lease): Promise<Act> => {
        if (!(await isLone(coordinator, lease))) {
          if (held) return { result: await m.compute(lease) };
          held = lease;
          return { keep: true };
        }
        if (!held) return { result: await m.compute(lease) };
        lies.push(lease.attemptId);
        await m.submit(lease, wrongTile(await m.compute(lease)));
        await m.submit(held, await m.compute(held));
        m.close();
        return { keep: true };
      };
    };
    const watch = watchJob(dev, job.id);
    await Promise.all([watch.state, ...members.map((m, i) => work(m, watch.over, i < 3 ? honest(m) : hitAndRun(m)))]);
    expect(await watch.state).toBe('done');
    expect(lies.length).toBeGreaterThanOrEqual(2); // the attack was made
    await expectRightResult(dev, job.id, target);
    const { paid, whole } = await paidTo(coordinator, lies);
    expect(paid).toBe(0);
    expect(whole).toBe(true);
    const judged = await coordinator.deps.db.selectFrom('attempts').select('state').where('id', 'in', lies).execute();
    expect(judged.map((a) => a.state)).toEqual(lies.map(() => 'invalid'));
  }, 180_000);

  it('lease fishing: a trusted ring that releases and asks again never holds both replicas of a unit, and its releases are limited', async () => {
    const { dev, members } = await setup(['honest1', 'honest2', 'honest3', 'honest4', 'ring1', 'ring2', 'ring3']);
    const ring = members.slice(4);
    await earnTrust(coordinator, dev, members, ring);
    const job = await submitTarget(dev);
    // The ring's board: which member holds which unit. It lies only where two of its members hold
    // the unit (then neither can be outvoted); otherwise it releases and fishes again.
    const holding = new Map<string, Set<string>>();
    const released = new Map<string, Set<string>>();
    const lies: string[] = [];
    const fisher = (m: Member) => async (lease: Lease): Promise<Act> => {
      const set = holding.get(lease.unit.id) ?? new Set<string>();
      holding.set(lease.unit.id, set.add(m.name));
      if (set.size >= 2) {
        lies.push(lease.attemptId);
        return { result: wrongTile(await m.compute(lease)) };
      }
      // Give the others a moment to land on it, then let it go and fish again.
      await new Promise((r) => setTimeout(r, 30));
      if (holding.get(lease.unit.id)!.size >= 2) {
        lies.push(lease.attemptId);
        return { result: wrongTile(await m.compute(lease)) };
      }
      set.delete(m.name);
      const mine = released.get(m.name) ?? new Set<string>();
      released.set(m.name, mine.add(lease.unit.id));
      return { release: true };
    };
    const watch = watchJob(dev, job.id);
    await Promise.all([watch.state, ...members.map((m, i) => work(m, watch.over, i < 4 ? honest(m) : fisher(m)))]);
    expect(await watch.state).toBe('done');
    await expectRightResult(dev, job.id, target);
    expect(lies).toEqual([]); // it never held a pair
    expect((await paidTo(coordinator, lies)).whole).toBe(true);
    for (const m of ring) {
      const rows = await attemptsOf(m);
      const releases = rows.filter((a) => a.released);
      expect(releases.length).toBeGreaterThan(0);
      expect(releases.length).toBeLessThanOrEqual(releasesPerHourMax);
      // A released unit is not leased to that node again.
      const units = rows.map((a) => a.unit_id);
      for (const r of releases) expect(units.filter((u) => u === r.unit_id)).toHaveLength(1);
    }
  }, 180_000);

  it('copying: a node that reports the hash its partner computed, without computing or uploading, is refused and earns nothing', async () => {
    const { dev, members } = await setup(['honest1', 'honest2', 'honest3', 'friend', 'copier']);
    const [friend, copier] = [members[3]!, members[4]!];
    const job = await submitTarget(dev);
    const shared = new Map<string, string>(); // unit → the output hash the friend computed, out of band
    const heard = new Map<string, () => void>(); // the copier waiting for its friend's hash of a unit
    const acks: string[] = [];
    const friendly = async (lease: Lease): Promise<Act> => {
      const result = await friend.compute(lease);
      shared.set(lease.unit.id, await sha256Hex(encodeNpy(result)));
      heard.get(lease.unit.id)?.();
      return { result };
    };
    // Patient, as a real copier is: it holds a lease a while for its friend to compute the unit
    // (on a loaded machine the friend may come later than the lease), then gives it back.
    const copying = async (lease: Lease): Promise<Act> => {
      if (!shared.has(lease.unit.id)) {
        await new Promise<void>((resolve) => {
          heard.set(lease.unit.id, resolve);
          setTimeout(resolve, 3000);
        });
      }
      const sha = shared.get(lease.unit.id);
      if (!sha) return { release: true };
      copier.send({ type: 'result', attemptId: lease.attemptId, token: lease.token, output: sha });
      const ack = await copier.next('ack');
      acks.push(ack.status);
      tried();
      if (ack.status === 'refused') copier.send({ type: 'release', attemptId: lease.attemptId, token: lease.token, reason: 'copy refused' });
      return { keep: true };
    };
    // The pair works first, alone, so that a unit one of them holds can go only to the other:
    // the copier surely gets units its friend computed (with the honest nodes at work from the
    // start, a loaded machine dealt it none in two CI runs). The honest ones join after its first
    // try, or after 20 s.
    let tried!: () => void;
    const firstTry = new Promise<void>((resolve) => {
      tried = resolve;
      setTimeout(resolve, 20_000);
    });
    const watch = watchJob(dev, job.id);
    await Promise.all([
      watch.state,
      ...members.map(async (m, i) => {
        if (i < 3) await firstTry;
        return work(m, watch.over, i < 3 ? honest(m) : i === 3 ? friendly : copying);
      }),
    ]);
    expect(await watch.state).toBe('done');
    await expectRightResult(dev, job.id, target);
    expect(acks.length).toBeGreaterThan(0); // it did try
    expect(acks.every((a) => a === 'refused')).toBe(true);
    const rows = await attemptsOf(copier);
    expect(rows.filter((a) => a.state === 'valid' || a.state === 'returned')).toEqual([]);
    expect((await paidTo(coordinator, rows.map((a) => a.id))).paid).toBe(0);
  }, 180_000);

  it('hoarding: 500 request frames leave one socket holding no more than its bound, an honest node keeps getting work, and heartbeats hold a lease only so long', async () => {
    const leaseTtlMs = 2000;
    const { dev, members } = await setup(['hoarder', 'honest'], leaseTtlMs);
    const [hoarder, worker] = [members[0]!, members[1]!];
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 64, k: 8, n: 32, seed: 3 }, tile: 8 }, verification: 'check' }, 201);
    for (let i = 0; i < 500; i++) hoarder.send({ type: 'request', slots: 8 });
    const held = () => hoarder.received.filter((m) => m.type === 'lease').map((m) => (m as Lease).attemptId);
    const beat = setInterval(() => hoarder.send({ type: 'heartbeat', attempts: held() }), leaseTtlMs / 4);
    try {
      // The honest node on another socket is served while the flood is held.
      let done = 0;
      await work(worker, () => done >= 8, async (lease) => {
        done++;
        return { result: await worker.compute(lease) };
      });
      expect(done).toBe(8);
      // Every lease the flood ever won (none has lapsed yet: heartbeats keep them).
      const won = await coordinator.deps.db.selectFrom('attempts').select(['id', 'state']).where('node_id', '=', hoarder.nodeId).execute();
      expect(won.length).toBeGreaterThan(0);
      expect(won.length).toBeLessThanOrEqual(holdMin);
      expect(won.map((a) => a.state)).toEqual(won.map(() => 'leased'));
      // Heartbeating without ever returning: they lapse after leaseLifeTtls lease times.
      await eventually(async () => (await coordinator.deps.db.selectFrom('attempts').select('state').where('id', 'in', won.map((a) => a.id)).execute()).every((a) => a.state === 'expired'), 'the hoarded leases to lapse', (leaseLifeTtls + 5) * leaseTtlMs);
    } finally {
      clearInterval(beat);
      await dev.json('DELETE', `/api/jobs/${job.id}`);
    }
  }, 120_000);

  it('framing: an honest account outvoted by a ring is restored with its results once the ring is caught', async () => {
    const { dev, members } = await setup(['holder', 'victim', 'framer1', 'framer2']);
    const [holder, victim, f1, f2] = [members[0]!, members[1]!, members[2]!, members[3]!];
    const ring = [f1, f2];
    const db = coordinator.deps.db;
    const dealtTo = async (unitId: string) => (await db.selectFrom('units').select('partner_node').where('id', '=', unitId).executeTakeFirstOrThrow()).partner_node;
    const leaseOf = async (m: Member) => {
      m.send({ type: 'request', slots: 1 });
      return m.next('lease', 30_000);
    };
    // Three units. The holder takes one and pauses with it (heartbeating), so the job stays open.
    const frame = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 24, k: 8, n: 8, seed: 11 }, tile: 8 }, verification: 'replicate' }, 201);
    const held = await leaseOf(holder);
    holder.send({ type: 'pause' });
    await eventually(async () => (await db.selectFrom('nodes').select('paused_at').where('id', '=', holder.nodeId).executeTakeFirstOrThrow()).paused_at, 'the holder paused');
    const beat = setInterval(() => holder.send({ type: 'heartbeat', attempts: [held.attemptId] }), 1000);
    // The victim commits the truth twice; while the ring are its only possible partners, both
    // framers are dealt each unit in turn and outvote it 2:1 — two offences: quarantined.
    const framed: string[] = [];
    for (let i = 0; i < 2; i++) {
      const lease = await leaseOf(victim);
      framed.push(lease.attemptId);
      await victim.submit(lease, await victim.compute(lease));
      for (let j = 0; j < 2; j++) {
        const id = await eventually(() => dealtTo(lease.unit.id), 'a framer dealt');
        const framer = ring.find((f) => f.nodeId === id)!;
        const l = await leaseOf(framer);
        expect(l.unit.id).toBe(lease.unit.id);
        await framer.submit(l, wrongTile(await framer.compute(l)));
      }
    }
    expect((await db.selectFrom('accounts').select('quarantined_at').where('id', '=', victim.accountId).executeTakeFirstOrThrow()).quarantined_at).not.toBeNull();
    // Honest nodes arrive. The ring lies next to them on another job, is outvoted and caught.
    const helpers = [await member(coordinator, 'honest1'), await member(coordinator, 'honest2'), await member(coordinator, 'honest3')];
    everyone.push(...helpers);
    const other = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: target, tile: 8 }, verification: 'replicate' }, 201);
    let caught = false;
    const watchRing = (async () => {
      await eventually(async () => (await db.selectFrom('accounts').select('quarantined_at').where('id', 'in', ring.map((f) => f.accountId)).execute()).every((a) => a.quarantined_at), 'the ring quarantined', 90_000);
      caught = true;
    })();
    const lying = (m: Member) => async (lease: Lease): Promise<Act> => ({ result: wrongTile(await m.compute(lease)) });
    const states = async () => Promise.all([jobState(dev, frame.id), jobState(dev, other.id)]);
    let done = false;
    const watchJobs = (async () => {
      await eventually(async () => (await states()).every(ended), 'both jobs to end', 120_000);
      done = true;
    })();
    // Once the ring is caught, the holder hands in its unit and everyone honest finishes.
    const holding = (async () => {
      await watchRing;
      clearInterval(beat);
      await holder.submit(held, await holder.compute(held));
      await work(holder, () => done, honest(holder));
    })();
    await Promise.all([watchRing, watchJobs, holding, ...ring.map((m) => work(m, () => caught, lying(m))), ...[victim, ...helpers].map((m) => work(m, () => done, honest(m)))]);
    expect(await states()).toEqual(['done', 'done']);
    await expectRightResult(dev, frame.id, { m: 24, k: 8, n: 8, seed: 11 });
    await expectRightResult(dev, other.id, target);
    const account = await db.selectFrom('accounts').select(['quarantined_at', 'invalid']).where('id', '=', victim.accountId).executeTakeFirstOrThrow();
    expect(account).toEqual({ quarantined_at: null, invalid: 0 });
    const victimAttempts = await db.selectFrom('attempts').select('state').where('id', 'in', framed).execute();
    expect(victimAttempts.map((a) => a.state)).toEqual(framed.map(() => 'valid'));
    expect((await paidTo(coordinator, framed)).paid).toBeGreaterThan(0);
  }, 240_000);

  it('stalls: a unit reopened after its supporter is caught is dealt to honest accounts that vetted newcomers on it', async () => {
    const { dev, members } = await setup(['liar', 'veteran']);
    const [liar, veteran] = [members[0]!, members[1]!];
    const db = coordinator.deps.db;
    const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 16, k: 8, n: 8, seed: 5 }, tile: 8 }, verification: 'replicate' }, 201);
    const leaseOf = async (m: Member) => {
      m.send({ type: 'request', slots: 1 });
      return m.next('lease', 30_000);
    };
    // The liar and the veteran verify the first unit together (both right, for now)…
    const x = await leaseOf(liar);
    await liar.submit(x, await liar.compute(x));
    const x2 = await leaseOf(veteran);
    expect(x2.unit.id).toBe(x.unit.id);
    await veteran.submit(x2, await veteran.compute(x2));
    // …the liar takes the second and holds it; both are trusted by now (a long record).
    const y = await leaseOf(liar);
    const beat = setInterval(() => liar.send({ type: 'heartbeat', attempts: [y.attemptId] }), 1000);
    await db.updateTable('nodes').set({ streak: 20 }).where('id', 'in', [liar.nodeId, veteran.nodeId]).execute();
    // Newcomers are vetted on the first unit: a known answer, the only work there is.
    const newcomers = [await member(coordinator, 'new1'), await member(coordinator, 'new2')];
    everyone.push(...newcomers);
    for (const m of newcomers) {
      const known = await leaseOf(m);
      expect(known.unit.id).toBe(x.unit.id);
      await m.submit(known, await m.compute(known));
    }
    // The liar lies on the unit it held and leaves: it is outvoted and caught, and the first unit
    // — which it helped verify — is judged again. Only the newcomers may run it.
    clearInterval(beat);
    await liar.submit(y, wrongTile(await liar.compute(y)));
    liar.close();
    const watch = watchJob(dev, job.id, 60_000);
    await Promise.all([watch.state, ...[veteran, ...newcomers].map((m) => work(m, watch.over, honest(m)))]);
    expect(await watch.state).toBe('done');
    await expectRightResult(dev, job.id, { m: 16, k: 8, n: 8, seed: 5 });
  }, 120_000);
});
