import { expect } from 'vitest';
import type { Coordinator } from '../../server/coordinator.ts';
import { auditLedger } from '../../server/ledger/ledger.ts';
import { reconcileLedger } from '../../server/ledger/payments.ts';
import { parseNpy, type Matrix } from '../../shaders/npy.ts';
import { TestClient } from '../helpers/client.ts';
import { eventually } from '../helpers/coordinator.ts';
import { expectClose, randomSpecReference } from '../helpers/matrices.ts';
import { RawNode, type Lease } from '../helpers/raw-node.ts';

/**
 * A crowd of nodes for the adversary tests: each its own account, on its own network (a /24 of
 * the loopback range), speaking the real protocol over a real WebSocket. What a node does with a
 * lease is the test's: the honest compute, the adversaries do what an attacker would.
 */
export type Member = RawNode & { nodeId: string; accountId: string; name: string };

/** What a member does with a lease: report `result` (uploaded), release it, or keep it. */
export type Act = { result: Matrix } | { release: true } | { keep: true };

let network = 0;

export async function member(coordinator: Coordinator, name: string): Promise<Member> {
  const client = await TestClient.signup(coordinator.url, `${name}@crowd.test`);
  const key = await client.useNewKey();
  network++;
  const n = await RawNode.connect(coordinator.url.replace('localhost', '127.0.0.1'), key, `127.0.${network}.1`);
  const welcome = await n.hello();
  // Alive, as a real node says every heartbeatMs (only live nodes are dealt replicas).
  const beat = setInterval(() => n.ws.readyState === n.ws.OPEN && n.send({ type: 'heartbeat', attempts: [] }), 1000);
  n.ws.on('close', () => clearInterval(beat));
  return Object.assign(n, { nodeId: welcome.nodeId, accountId: client.accountId, name });
}

/** A wrong tile: the right one with its first element off by one. */
export const wrongTile = (right: Matrix): Matrix => ({ ...right, data: right.data.map((v, i) => (i === 0 ? v + 1 : v)) });

/** Jobs done with (the warm-up): a lease of theirs still on its way is dropped, not worked on. */
const retired = new Set<string>();

/**
 * Runs `m` until `stop()`: asks for one lease at a time (up to `slots` held), and does what
 * `act` says with each. Returns when stopped or when `act` closes the member.
 */
export async function work(m: Member, stop: () => boolean, act: (lease: Lease) => Promise<Act>) {
  const open = () => m.ws.readyState === m.ws.OPEN;
  while (!stop() && open()) {
    m.send({ type: 'request', slots: 1 });
    let lease: Lease;
    try {
      lease = await m.next('lease', 300);
    } catch {
      if (!open()) return;
      continue;
    }
    if (retired.has(lease.unit.jobId)) continue;
    const what = await act(lease);
    if (!open()) return;
    if ('result' in what) await m.submit(lease, what.result);
    else if ('release' in what) m.send({ type: 'release', attemptId: lease.attemptId, token: lease.token, reason: 'fishing' });
  }
}

export const honest = (m: Member) => async (lease: Lease): Promise<Act> => ({ result: await m.compute(lease) });

/** Works every member honestly on a replicate warm-up job until each of `patient` has a streak of `streak`. */
export async function earnTrust(coordinator: Coordinator, dev: TestClient, everyone: Member[], patient: Member[], streak = 10) {
  const job = await dev.json('POST', '/api/jobs', { kind: 'matmul', spec: { random: { m: 128, k: 8, n: 128, seed: 999 }, tile: 8 }, verification: 'replicate' }, 201);
  let trusted = false;
  const watch = (async () => {
    await eventually(async () => {
      const rows = await coordinator.deps.db.selectFrom('nodes').select('streak').where('id', 'in', patient.map((p) => p.nodeId)).execute();
      return rows.every((r) => r.streak >= streak);
    }, `${patient.length} nodes to earn a streak of ${streak}`, 120_000);
    trusted = true;
  })();
  await Promise.all([watch, ...everyone.map((m) => work(m, () => trusted, honest(m)))]);
  // A lease asked for just before the stop can come after it: the next loop must not take it
  // for one of the job under test (a lie on it would land on a cancelled job).
  retired.add(job.id);
  await dev.json('DELETE', `/api/jobs/${job.id}`);
}

/** Whether the attempt was leased to run alone (the test peeks at what an attacker cannot see: worst case). */
export async function isLone(coordinator: Coordinator, lease: Lease): Promise<boolean> {
  return (await coordinator.deps.db.selectFrom('attempts').select('lone').where('id', '=', lease.attemptId).executeTakeFirstOrThrow()).lone;
}

/** The finished job's result against the CPU reference: every tile right. */
export async function expectRightResult(dev: TestClient, jobId: string, spec: { m: number; k: number; n: number; seed: number }) {
  const res = await dev.call('GET', `/api/jobs/${jobId}/result`);
  expect(res.status).toBe(200);
  expectClose(parseNpy(new Uint8Array(await res.arrayBuffer())), randomSpecReference(spec.m, spec.k, spec.n, spec.seed), spec.k);
}

/** µcr posted to these attempts, and the ledger's audit (reconciled first). */
export async function paidTo(coordinator: Coordinator, attemptIds: string[]) {
  const db = coordinator.deps.db;
  await reconcileLedger(db);
  const audit = await auditLedger(db);
  const whole = audit.mismatched.length === 0 && audit.negative.length === 0 && audit.resolvedTwice.length === 0 && audit.total === 0;
  if (!attemptIds.length) return { paid: 0, whole };
  const posted = await db.selectFrom('transfers').select('amount').where('kind', '=', 'post').where('attempt_id', 'in', attemptIds).execute();
  return { paid: posted.reduce((s, p) => s + p.amount, 0), whole };
}

/** Watches a job until it ends (or `timeoutMs` passes): `over` for the work loops, `state` its last state. */
export function watchJob(dev: TestClient, jobId: string, timeoutMs = 150_000) {
  let over = false;
  const state = (async () => {
    const until = Date.now() + timeoutMs;
    let now = 'queued';
    while (!['done', 'failed', 'cancelled'].includes(now) && Date.now() < until) {
      now = (await dev.json('GET', `/api/jobs/${jobId}`)).state;
      await new Promise((r) => setTimeout(r, 200));
    }
    over = true;
    return now;
  })();
  return { over: () => over, state };
}
