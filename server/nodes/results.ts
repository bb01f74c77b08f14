import { timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import { uploadedSince } from '../blobs/uploads.ts';
import type { Deps } from '../context.ts';
import { inTransaction, type Db, type Trx } from '../db/index.ts';
import { failJobOfUnit } from '../jobs/finish.ts';
import { failuresMax } from '../jobs/states.ts';
import { payVetting, settlePays } from '../ledger/payments.ts';
import { workloads } from '../../workloads/coordinator.ts';
import { decide, type Returned } from '../verify/replicate.ts';
import { disagreed } from '../verify/adaptive.ts';
import { dealPartners } from '../verify/deal.ts';
import { recordExpired, recordInvalid, recordValid, trustedStreakMin } from '../verify/reputation.ts';
import { checkRate, streaksOf, withdrawUnchecked } from '../verify/sampled.ts';

/**
 * What became of a result. Accepted: `verified` when it decided its unit, `jobComplete` when
 * that finished its job, `newWork` when a replica was dealt or a unit reopened (nodes that
 * found nothing may ask again). The nodes to tell to drop a lease come two ways: `cancelled`
 * lists the leases a verdict cancelled (its unit verified without them), and `decided` the
 * units whose failure failed their job (the job's leases were cancelled with it; the hub reads
 * which: server/nodes/hub.ts).
 */
export type Outcome =
  | { status: 'accepted'; jobComplete: string | null; newWork: boolean; decided: string[]; verified?: boolean; cancelled?: { id: string; nodeId: string | null }[] }
  | { status: 'refused'; reason: string; newWork?: boolean };

const sameToken = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
type Accepted = Extract<Outcome, { status: 'accepted' }>;
const waiting: Accepted = { status: 'accepted', jobComplete: null, newWork: false, decided: [] };

/** A node's report of a result: the attempt, its lease's token, the output blob's hash. */
export interface ResultReport {
  holder: string;
  attemptId: string;
  token: string;
  output: string;
  /** The output's bytes when they came inside the frame (hashed to `output` already). */
  bytes?: Uint8Array;
  /** The account they count as stored by (the node's), with `bytes`. */
  accountId?: string | null;
}

/**
 * A node's result for an attempt. The fence: it counts only with the token of the lease that
 * is current now (state 'leased', deadline not passed), so a node whose lease lapsed and was
 * re-issued cannot land a stale result, and a retry of an accepted result changes nothing.
 * With `check` the result is checked against the unit's inputs at once (outside the
 * lock: inputs never change); with `replicate` the unit's row is locked while its replicas
 * are compared, so one process decides it once.
 */
export async function acceptResult(deps: Deps, holder: string, attemptId: string, token: string, output: string): Promise<Outcome> {
  return (await acceptResults(deps, [{ holder, attemptId, token, output }]))[0]!;
}

/**
 * Results reported together (those that came while the last batch was being judged), in one
 * transaction: results that passed their Freivalds check on a current lease are judged as a
 * set (a fixed number of statements for the batch: server/nodes/hub.ts groups them); every
 * other result (a replica to compare, a known answer, a refusal) is judged alone, as before.
 */
export async function acceptResults(deps: Deps, reports: ResultReport[]): Promise<Outcome[]> {
  // Outputs inside their frames are stored as PUT /api/blobs would store them. They need no
  // row in uploads: the frame itself shows that the lease's holder sent those bytes now.
  const inline = reports.filter((r) => r.bytes);
  if (inline.length) await deps.blobs.putSmall(inline.map((r) => ({ sha256: r.output, bytes: r.bytes!, accountId: r.accountId ?? null })));
  const stored = await deps.blobs.hasMany([...new Set(reports.map((r) => r.output))]);
  const ids = [...new Set(reports.map((r) => r.attemptId))];
  const abouts = new Map(
    (
      await deps.db
        .selectFrom('attempts')
        .innerJoin('units', 'units.id', 'attempts.unit_id')
        .innerJoin('jobs', 'jobs.id', 'units.job_id')
        .select(['attempts.id as attemptId', 'attempts.node_id', 'units.id', 'units.job_id', 'units.params', 'units.inputs', 'units.flops', 'jobs.kind', 'jobs.verification', 'jobs.bid'])
        .where('attempts.id', 'in', ids)
        .execute()
    ).map((a) => [a.attemptId, a]),
  );
  const outcomes: (Outcome | null)[] = reports.map(() => null);
  const judged: Judged[] = [];
  const sampledNodes = [...abouts.values()].filter((a) => a.verification === 'check' && workloads[a.kind]!.sampled).map((a) => a.node_id);
  const streaks = await streaksOf(deps.db, sampledNodes);
  for (const [at, report] of reports.entries()) {
    if (!stored.has(report.output)) outcomes[at] = { status: 'refused', reason: 'upload the output blob (PUT /api/blobs) before reporting the result' };
    else if (!abouts.has(report.attemptId)) outcomes[at] = { status: 'refused', reason: 'no lease of yours has that attempt id and token' };
    else {
      const about = abouts.get(report.attemptId)!;
      const bytes = report.bytes ?? (await deps.blobs.readKnown(report.output));
      const workload = workloads[about.kind]!;
      const problem = workload.malformed(about.params as Record<string, unknown>, bytes);
      let checked: boolean | null = null;
      let lone = false;
      if (!problem && about.verification === 'check' && workload.check) {
        // A check as costly as the work is run on a sample of a trusted node's results (server/verify/sampled.ts).
        lone = !!workload.sampled && Math.random() >= checkRate(streaks.get(about.node_id) ?? 0, workload.sampled.rateMin);
        if (lone) checked = true;
        else {
          const inputs = await Promise.all(about.inputs.map(async (sha) => ({ sha, bytes: await deps.blobs.readKnown(sha) })));
          checked = await deps.checks.check(workload, about.params as Record<string, unknown>, inputs, bytes);
        }
      }
      judged.push({ report, about, bytes, problem, checked, lone, at });
    }
  }
  if (!judged.length) return outcomes as Outcome[];
  await inTransaction(deps.db, async (trx) => {
    const counts = new Map<string, number>();
    const passed = await verifyChecked(deps, trx, judged.filter((j) => j.checked === true), counts);
    for (const j of judged) {
      const done = passed.get(j.at);
      if (done) outcomes[j.at] = done;
      else outcomes[j.at] = await judgeOne(deps, trx, j, counts);
    }
    // Last, the hottest rows, so that they are locked till commit only: the ledger's head (every
    // ledger write of every coordinator), then the jobs' rows (every verdict's and every
    // claim's) — the order claims take them in too (server/nodes/leases.ts). Pays follow the
    // verdicts just made.
    await settlePays(trx, { unitIds: [...new Set(judged.map((j) => j.about.id))] });
    const complete = await countVerified(trx, counts);
    for (let at = outcomes.length - 1; at >= 0; at--) {
      const o = outcomes[at];
      const jobId = abouts.get(reports[at]!.attemptId)?.job_id;
      if (o?.status === 'accepted' && o.verified && jobId && complete.delete(jobId)) o.jobComplete = jobId;
    }
  });
  return outcomes as Outcome[];
}

type About = { id: string; job_id: string; node_id: string; params: unknown; inputs: string[]; flops: number; kind: string; verification: string; bid: number };

/** A result about to be judged: `checked` against its inputs (null: no check), or `lone`: taken unchecked (a sampled check not drawn). */
interface Judged {
  report: ResultReport;
  about: About;
  bytes: Uint8Array;
  problem: string | null;
  checked: boolean | null;
  lone: boolean;
  at: number;
}

/**
 * The common case as a set: results that passed their check, each on the lease that is
 * current now, uploaded by its holder since the lease. Each unit is verified by its one
 * result. Returns their outcomes by position; a result that is anything else is left to
 * judgeOne (which refuses it with its reason, or judges it as it is).
 */
async function verifyChecked(deps: Deps, trx: Trx, items: Judged[], counts: Counts): Promise<Map<number, Outcome>> {
  const done = new Map<number, Outcome>();
  if (!items.length) return done;
  // One read for the batch, its units and attempts locked in the units' order (the order every
  // writer of units takes them in): the attempt's lease, its unit's state, whether another of
  // the unit's leases is out (none, for a unit leased once: nothing to cancel), and what the
  // node's rate is measured from. Three statements before, each a round trip (bench/coordinator).
  const rows = await sql<{ id: string; holder: string; token: string; state: string; deadline: Date; known: boolean; suspect: boolean; node_id: string; created_at: Date; unit_id: string; job_id: string; unit_state: string; others: boolean; rate: number; last_result_at: Date | null }>`
    select a.id, a.holder, a.token, a.state, a.deadline, a.known, a.suspect, a.node_id, a.created_at,
      u.id as unit_id, u.job_id, u.state as unit_state, n.rate_gflops as rate, n.last_result_at,
      exists (select 1 from attempts o where o.unit_id = u.id and o.state = 'leased' and o.id <> a.id) as others
    from attempts a join units u on u.id = a.unit_id join nodes n on n.id = a.node_id
    where a.id in (${sql.join(items.map((i) => i.report.attemptId))})
    order by u.id, a.id
    for update of u, a`.execute(trx);
  const attempts = new Map(rows.rows.map((a) => [a.id, a]));
  const uploaded = items.filter((i) => !i.report.bytes);
  const uploads = uploaded.length
    ? await trx
        .selectFrom('uploads')
        .select(['sha256', 'uploader', 'at'])
        .where('sha256', 'in', uploaded.map((i) => i.report.output))
        .where('uploader', 'in', [...new Set(uploaded.map((i) => i.report.holder))])
        .execute()
    : [];
  const now = Date.now();
  const taken = new Set<string>();
  const ready = items.filter(({ report, about }) => {
    const attempt = attempts.get(report.attemptId);
    const fresh = !!attempt && attempt.unit_id === about.id && attempt.holder === report.holder && sameToken(attempt.token, report.token) && attempt.state === 'leased'
      && attempt.deadline.getTime() >= now && !attempt.known && attempt.unit_state === 'pending' && !taken.has(about.id)
      && (!!report.bytes || uploads.some((u) => u.sha256 === report.output && u.uploader === report.holder && u.at.getTime() >= attempt.created_at.getTime()));
    if (fresh) taken.add(about.id);
    return fresh;
  });
  if (!ready.length) return done;
  const of = (item: Judged) => attempts.get(item.report.attemptId)!;
  const nodes = new Map(ready.map((item) => [of(item).node_id, { rate_gflops: of(item).rate, last_result_at: of(item).last_result_at }]));
  // Written with the nodes' valid counts (recordValid): one statement for both.
  const at = new Date();
  const rates = { at, of: ratesAfter(ready.map((item) => ({ nodeId: of(item).node_id, flops: item.about.flops, leasedAt: of(item).created_at })), nodes, at) };
  // leased → valid in one write of each attempt (its result with it): through 'returned' it was
  // two, and an attempt's row is rewritten with all five of its indexes each time.
  const verdicts = await markVerifiedMany(
    trx,
    ready.map((item) => ({ unit: { id: item.about.id, job_id: of(item).job_id }, sha256: item.report.output, valid: [item.report.attemptId], invalid: [], lone: item.lone, returned: true, alone: !of(item).others })),
    counts,
    new Set(ready.filter((item) => of(item).suspect).map((item) => item.report.attemptId)),
    rates,
  );
  ready.forEach((item, k) => done.set(item.at, verdicts[k]!));
  return done;
}

async function judgeOne(deps: Deps, trx: Trx, { report, about, bytes, problem, checked, lone }: Judged, counts: Counts): Promise<Outcome> {
  const { holder, attemptId, token, output } = report;
  const workload = workloads[about.kind]!;
  const params = about.params as Record<string, unknown>;
  return judge(trx);
  async function judge(trx: Trx): Promise<Outcome> {
    const unit = await trx
      .selectFrom('units')
      .innerJoin('attempts', 'attempts.unit_id', 'units.id')
      .select(['units.id', 'units.job_id', 'units.replicas', 'units.state', 'units.result_sha256'])
      .where('attempts.id', '=', attemptId)
      .forUpdate('units')
      .executeTakeFirstOrThrow();
    const attempt = await trx.selectFrom('attempts').selectAll().where('id', '=', attemptId).forUpdate().executeTakeFirstOrThrow();
    if (attempt.holder !== holder || !sameToken(attempt.token, token)) return { status: 'refused', reason: 'no lease of yours has that attempt id and token' };
    // The same result again (its ack was lost, or a reloaded tab resubmits it): already counted.
    if ((attempt.state === 'returned' || attempt.state === 'valid') && attempt.result_sha256 === output) return waiting;
    if (attempt.state !== 'leased') return { status: 'refused', reason: `that lease is no longer current (the attempt is ${attempt.state})` };
    if (attempt.deadline.getTime() < Date.now()) {
      // Lapsed, as the sweeper would have found it: counted against the node, and the unit's
      // next replica dealt (without the deal a unit with one replica returned waits for ever:
      // the queue serves only units with none).
      await trx.updateTable('attempts').set({ state: 'expired', error: 'result came after the deadline' }).where('id', '=', attemptId).execute();
      await recordExpired(trx, [attemptId]);
      await dealPartners(trx, [unit.id], deps.config.leaseTtlMs);
      return { status: 'refused', reason: 'the lease expired before the result came', newWork: true };
    }
    // A replica is work the node did: bytes its holder uploaded since the lease, not a hash
    // another node computed. (Left as it is: the node may upload and report again.)
    if (!report.bytes && !(await uploadedSince(trx, output, holder, attempt.created_at))) {
      return { status: 'refused', reason: 'upload the output with this node\'s credentials after taking the lease (PUT /api/blobs), then report it' };
    }
    await measureRate(trx, attempt.node_id, about.flops, attempt.created_at);
    const returned = { result_sha256: output, returned_at: new Date() };
    if (attempt.known) {
      // A known-answer unit: judged against the answer two accounts agreed on; the unit stays as it is.
      if (!unit.result_sha256) {
        await trx.updateTable('attempts').set({ state: 'cancelled', error: 'the unit was reopened' }).where('id', '=', attemptId).execute();
        return { status: 'refused', reason: 'that unit is being judged again' };
      }
      const right = !problem && workload.agree(params, bytes, await deps.blobs.readKnown(unit.result_sha256, trx));
      await trx.updateTable('attempts').set({ ...returned, state: right ? 'valid' : 'invalid', error: right ? null : 'disagreed with the known answer' }).where('id', '=', attemptId).execute();
      await (right ? recordValid : recordInvalid)(trx, [attemptId]);
      if (right) await payVetting(trx, { id: attemptId, holder, flops: about.flops, bid: about.bid });
      return right ? waiting : { status: 'refused', reason: problem ?? 'the result is wrong', newWork: true };
    }
    if (problem || checked === false) {
      const reason = problem ?? 'the result failed verification against the inputs';
      await trx.updateTable('attempts').set({ ...returned, state: 'invalid', error: reason }).where('id', '=', attemptId).execute();
      await recordInvalid(trx, [attemptId]);
      // Caught: what it sent unchecked in this job is withdrawn (server/verify/sampled.ts).
      if (workload.sampled) await withdrawUnchecked(trx, unit.job_id, [attempt.node_id], [attemptId]);
      return { status: 'refused', reason, newWork: true };
    }
    await trx.updateTable('attempts').set({ ...returned, state: 'returned' }).where('id', '=', attemptId).execute();
    if (checked === true) return (await markVerifiedMany(trx, [{ unit, sha256: output, valid: [attemptId], invalid: [], lone }], counts))[0]!;
    return decideUnit(deps, trx, unit, (x, y) => workload.agree(params, x, y), counts);
  }
}

/**
 * The node's throughput as the coordinator sees it: this result's FLOPs over the time since
 * the later of its lease and the node's previous result (so prefetched leases are not counted
 * twice), smoothed. It bounds the leases a node may hold (server/nodes/leases.ts); it never
 * sets a pay.
 */
async function measureRate(trx: Trx, nodeId: string, flops: number, leasedAt: Date) {
  await measureRates(trx, [{ nodeId, flops, leasedAt }]);
}

async function measureRates(trx: Trx, results: { nodeId: string; flops: number; leasedAt: Date }[]) {
  const nodes = await trx.selectFrom('nodes').select(['id', 'rate_gflops', 'last_result_at']).where('id', 'in', [...new Set(results.map((r) => r.nodeId))]).execute();
  const now = new Date();
  const rates = ratesAfter(results, new Map(nodes.map((n) => [n.id, n])), now);
  await sql`update nodes n set rate_gflops = v.rate, last_result_at = ${now}
    from (values ${sql.join([...rates].map(([id, rate]) => sql`(${id}::uuid, ${rate}::float8)`))}) as v(id, rate)
    where n.id = v.id`.execute(trx);
}

/** The nodes' rates after these results (a node's in order), from their rates and last results as read. */
function ratesAfter(results: { nodeId: string; flops: number; leasedAt: Date }[], read: Map<string, { rate_gflops: number; last_result_at: Date | null }>, at = new Date()): Map<string, number> {
  const byId = new Map([...read].map(([id, n]) => [id, { rate: n.rate_gflops, last: n.last_result_at?.getTime() ?? 0 }]));
  const now = at.getTime();
  for (const r of results) {
    const node = byId.get(r.nodeId)!;
    const measured = r.flops / Math.max(1, now - Math.max(r.leasedAt.getTime(), node.last)) / 1e6;
    node.rate = node.rate === 0 ? measured : 0.7 * node.rate + 0.3 * measured;
    node.last = now;
  }
  return new Map([...byId].map(([id, n]) => [id, n.rate]));
}

async function decideUnit(deps: Deps, trx: Trx, unit: { id: string; job_id: string; replicas: number }, agree: (x: Uint8Array, y: Uint8Array) => boolean, counts: Counts): Promise<Outcome> {
  const rows = await trx
    .selectFrom('attempts')
    .leftJoin('nodes', 'nodes.id', 'attempts.node_id')
    .select(['attempts.id', 'attempts.holder', 'attempts.result_sha256', 'attempts.lone', 'attempts.suspect', 'nodes.streak'])
    .where('attempts.unit_id', '=', unit.id)
    .where('attempts.state', '=', 'returned')
    .orderBy('attempts.returned_at')
    .execute();
  // A trusted node's lone result stands provisionally (server/verify/adaptive.ts).
  if (unit.replicas === 1 && rows.length === 1 && rows[0]!.lone && !rows[0]!.suspect) return markVerified(trx, unit, rows[0]!.result_sha256!, [rows[0]!.id], [], counts);
  const returned: Returned[] = [];
  for (const r of rows) returned.push({ id: r.id, holder: r.holder, sha256: r.result_sha256!, bytes: await deps.blobs.readKnown(r.result_sha256!, trx), suspect: r.suspect, trusted: (r.streak ?? 0) >= trustedStreakMin });
  const decision = decide(returned, unit.replicas, agree);
  switch (decision.kind) {
    case 'wait':
      await dealPartners(trx, [unit.id], deps.config.leaseTtlMs); // the next replica, now that this one is committed
      return { ...waiting, newWork: true };
    case 'escalate':
      await trx.updateTable('units').set({ replicas: decision.replicas }).where('id', '=', unit.id).execute();
      await dealPartners(trx, [unit.id], deps.config.leaseTtlMs);
      return { ...waiting, newWork: true };
    case 'failed':
      await failJobOfUnit(trx, unit.id, unit.job_id, decision.reason);
      return { ...waiting, decided: [unit.id] };
    case 'verified':
      return markVerified(trx, unit, decision.accepted.sha256, decision.valid, decision.invalid, counts);
  }
}

/**
 * The sweeper's part: units that hold every voting result they ask for, none in flight, and no
 * verdict. A withdrawn verdict reopens its unit asking for one result more than it holds, up to
 * reopenedReplicasMax (server/verify/adaptive.ts); at that cap it already holds as many as it
 * asks for, so no replica is dealt and no result comes to decide it. Such a unit was left
 * pending for ever (a chaos run: 17 results, 12 of them honest and agreeing, the job never
 * done). dealPartners keeps it due, and here it is decided on the results at hand: verified by
 * a quorum, or, with none, as `decide` rules (asked on, or its job failed). Returns their
 * outcomes: the leases a verdict cancelled (suspect and known-answer replicas do not vote, so
 * they may still be out), and the units whose failure failed their job, for the hub to tell nodes.
 */
export async function decideStalled(deps: Deps): Promise<Accepted[]> {
  const voters = sql`not a.known and not a.suspect`;
  const stalled = await sql<{ id: string }>`
    select u.id from units u
    where u.state = 'pending' and u.partner_due <= now() and u.partner_node is null
      and (select count(*) from attempts a where a.unit_id = u.id and ${voters} and a.state = 'returned') >= u.replicas
      and not exists (select 1 from attempts a where a.unit_id = u.id and ${voters} and a.state = 'leased' and a.deadline > now())
    limit 100`.execute(deps.db);
  const outcomes: Accepted[] = [];
  for (const { id } of stalled.rows) {
    const outcome = await inTransaction(deps.db, async (trx) => {
      const unit = (await sql<{ id: string; job_id: string; replicas: number; params: Record<string, unknown>; kind: string }>`
        select u.id, u.job_id, u.replicas, u.params, j.kind from units u join jobs j on j.id = u.job_id
        where u.id = ${id} and u.state = 'pending' and j.state in ('queued', 'running')
          and not exists (select 1 from attempts a where a.unit_id = u.id and ${voters} and a.state = 'leased' and a.deadline > now())
        for update of u`.execute(trx)).rows[0];
      if (!unit) return null;
      const counts: Counts = new Map();
      const workload = workloads[unit.kind]!;
      const decided = await decideUnit(deps, trx, unit, (x, y) => workload.agree(unit.params, x, y), counts);
      await settlePays(trx, { unitIds: [unit.id] });
      await countVerified(trx, counts);
      return decided.status === 'accepted' ? decided : null;
    });
    if (outcome) outcomes.push(outcome);
  }
  return outcomes;
}

/** unit pending ─▶ verified with `sha256`; its attempts judged; the job's count goes up. */
function markVerified(trx: Trx, unit: { id: string; job_id: string }, sha256: string, valid: string[], invalid: string[], counts: Counts): Promise<Outcome> {
  return markVerifiedMany(trx, [{ unit, sha256, valid, invalid }], counts).then((o) => o[0]!);
}

interface Verdict {
  unit: { id: string; job_id: string };
  sha256: string;
  valid: string[];
  invalid: string[];
  /** Its one valid result was taken unchecked (server/verify/sampled.ts): it builds no trust, and its pay waits for the job's end. */
  lone?: boolean;
  /** Its one valid result was just reported (still 'leased'): its output and the time are written with the verdict. */
  returned?: boolean;
  /** No other lease of the unit is out (read under the unit's lock): none to cancel. */
  alone?: boolean;
}

/** Units verified in a transaction, by job: added to the jobs' counts at its end (countVerified). */
type Counts = Map<string, number>;

/**
 * markVerified for several units (of one or many jobs), in a fixed number of statements. The
 * jobs' counts are added to `counts`, written by countVerified at the transaction's end, where
 * the outcome of a job's last unit is told it completed the job. `rates`: the nodes' measured
 * speeds, written with their valid counts (recordValid).
 */
async function markVerifiedMany(trx: Trx, verdicts: Verdict[], counts: Counts, suspects?: Set<string>, rates?: Parameters<typeof recordValid>[2]): Promise<Accepted[]> {
  const now = new Date();
  const valid = verdicts.flatMap((v) => v.valid);
  // Results of a node caught since (suspect) are paid when right but build no trust back
  // (`suspects`: the caller read which under the attempts' lock). Read before the write below clears it.
  const vindicated = suspects ? new Set(valid.filter((id) => suspects.has(id))) : new Set(valid.length ? (await trx.selectFrom('attempts').select('id').where('id', 'in', valid).where('suspect', '=', true).execute()).map((r) => r.id) : []);
  // The units and the results just reported, in one statement (two were two round trips).
  const reported = verdicts.filter((v) => v.returned);
  const attemptsToo = reported.length
    ? sql`, reported as (update attempts a set state = 'valid', suspect = false, result_sha256 = v.sha, returned_at = ${now}
        from (values ${sql.join(reported.map((v) => sql`(${v.valid[0]!}::uuid, ${v.sha256}::text)`))}) as v(id, sha)
        where a.id = v.id returning 1)`
    : sql``;
  await sql`with verified as (update units u set state = 'verified', result_sha256 = v.sha, verified_at = ${now}, partner_node = null, partner_due = null
      from (values ${sql.join(verdicts.map((v) => sql`(${v.unit.id}::uuid, ${v.sha256}::text)`))}) as v(id, sha)
      where u.id = v.id and u.state = 'pending' returning 1)${attemptsToo}
    select 1`.execute(trx);
  const judged = verdicts.filter((v) => !v.returned).flatMap((v) => v.valid);
  if (judged.length) await trx.updateTable('attempts').set({ state: 'valid', suspect: false }).where('id', 'in', judged).execute();
  const unchecked = verdicts.filter((v) => v.lone).flatMap((v) => v.valid);
  if (unchecked.length) {
    await trx.updateTable('attempts').set({ lone: true }).where('id', 'in', unchecked).execute();
    for (const id of unchecked) vindicated.add(id);
  }
  await recordValid(trx, valid.filter((id) => !vindicated.has(id)), rates);
  const agreed = verdicts.filter((v) => v.valid.length >= 2).flatMap((v) => v.valid);
  if (agreed.length) {
    // Agreement with an independent result: a passed spot check for each supporter, dated by
    // when that supporter's lease was granted — it confirms the lone results it took before
    // then, never one taken after (server/verify/adaptive.ts) — and no result here is lone any more.
    await trx.updateTable('attempts').set({ lone: false }).where('id', 'in', agreed).execute();
    const checked = agreed.filter((id) => !vindicated.has(id));
    if (checked.length) {
      await sql`update nodes n set spot_ok_at = greatest(n.spot_ok_at, a.created_at)
        from attempts a where a.id in (${sql.join(checked)}) and a.node_id = n.id and not a.known`.execute(trx);
    }
  }
  const invalid = verdicts.flatMap((v) => v.invalid);
  if (invalid.length) {
    await trx.updateTable('attempts').set({ state: 'invalid', error: disagreed }).where('id', 'in', invalid).execute();
    await recordInvalid(trx, invalid);
  }
  // Leases still out: those already lapsed are expired (they cost their node), the rest
  // cancelled, and their nodes told (the outcome's `cancelled`).
  const out = verdicts.filter((v) => !v.alone).map((v) => v.unit.id);
  const cancelled = out.length
    ? (await sql<{ id: string; node_id: string | null; unit_id: string; state: string }>`update attempts set
          state = case when deadline < ${now} then 'expired' else 'cancelled' end,
          error = case when deadline < ${now} then 'the lease ran out before a result came' else 'unit verified without this replica' end
        where unit_id in (${sql.join(out)}) and state = 'leased' returning id, node_id, unit_id, state`.execute(trx)).rows.filter((a) => a.state === 'cancelled')
    : [];
  for (const v of verdicts) counts.set(v.unit.job_id, (counts.get(v.unit.job_id) ?? 0) + 1);
  // An outvoted node's other results may have been reopened (server/verify/adaptive.ts).
  return verdicts.map((v) => ({
    status: 'accepted',
    jobComplete: null,
    newWork: v.invalid.length > 0,
    decided: [],
    verified: true,
    cancelled: cancelled.filter((a) => a.unit_id === v.unit.id).map((a) => ({ id: a.id, nodeId: a.node_id })),
  }));
}

/** Adds a transaction's verified units to their jobs' counts; returns the jobs now complete. */
async function countVerified(trx: Trx, counts: Counts): Promise<Set<string>> {
  if (!counts.size) return new Set();
  const jobs = await sql<{ id: string; units_verified: number; units_total: number }>`
    update jobs j set units_verified = j.units_verified + v.n, updated_at = ${new Date()}
    from (values ${sql.join([...counts].map(([id, n]) => sql`(${id}::uuid, ${n}::int)`))}) as v(id, n)
    where j.id = v.id returning j.id, j.units_verified, j.units_total`.execute(trx);
  return new Set(jobs.rows.filter((j) => j.units_verified === j.units_total).map((j) => j.id));
}

/**
 * leased ─node reports an error─▶ failed (counts towards the unit's failure limit), or
 * leased ─node gives it back unstarted─▶ cancelled (a pause: not against its reputation, but
 * counted in its hourly releases, and a replicate unit is not leased to it again for a while).
 * Either way the unit goes back to the queue and the reserved pay is voided.
 */
export async function failAttempt(db: Db, holder: string, attemptId: string, token: string, reason: string, state: 'failed' | 'cancelled', leaseTtlMs: number): Promise<boolean> {
  return inTransaction(db, async (trx) => {
    const released = state === 'cancelled';
    const row = await trx
      .updateTable('attempts')
      .set({ state, error: reason.slice(0, 2000), released })
      .where('id', '=', attemptId)
      .where('holder', '=', holder)
      .where('token', '=', token)
      .where('state', '=', 'leased')
      .returning(['id', 'unit_id', 'node_id'])
      .executeTakeFirst();
    if (!row) return false;
    // Releases count (server/nodes/leases.ts limits them per hour) and bar the unit for this node.
    if (released) {
      await sql`update nodes set
          releases = case when releases_since < now() - interval '1 hour' then 1 else releases + 1 end,
          releases_since = case when releases_since < now() - interval '1 hour' then now() else releases_since end
        where id = ${row.node_id}`.execute(trx);
    }
    await settlePays(trx, { attemptIds: [row.id] });
    // Evidence about the unit, not about nodes: the same unit failed on `failuresMax` distinct
    // nodes fails its job. Lapsed leases (a node vanished, a tab closed, a coordinator
    // restarted) never count: churn alone must not fail a job, so such a unit goes back to the
    // queue for as long as the job lives. Counted here, where a failure arrives (one unit's
    // attempts, by index), not by a sweep over every pending unit (26 ms at 10,000 queued).
    if (state === 'failed') {
      const failed = await trx
        .selectFrom('attempts')
        .select((eb) => eb.fn.count<number>('node_id').distinct().as('nodes'))
        .where('unit_id', '=', row.unit_id)
        .where('state', '=', 'failed')
        .executeTakeFirstOrThrow();
      if (Number(failed.nodes) >= failuresMax) {
        const unit = await trx.selectFrom('units').select('job_id').where('id', '=', row.unit_id).executeTakeFirstOrThrow();
        await failJobOfUnit(trx, row.unit_id, unit.job_id, `it failed on ${failuresMax} different nodes; the last said: ${reason.slice(0, 500)}`);
        return true;
      }
    }
    await dealPartners(trx, [row.unit_id], leaseTtlMs);
    return true;
  });
}

/** On a resumed node: its leases it no longer holds (a reload lost them) go back to the queue now. */
export async function releaseForgotten(db: Db, nodeId: string, holding: string[], leaseTtlMs: number): Promise<number> {
  return inTransaction(db, async (trx) => {
    let query = trx
      .updateTable('attempts')
      .set({ state: 'cancelled', error: 'the node restarted without it' })
      .where('node_id', '=', nodeId)
      .where('state', '=', 'leased');
    if (holding.length) query = query.where('id', 'not in', holding);
    const rows = await query.returning(['id', 'unit_id']).execute();
    await settlePays(trx, { attemptIds: rows.map((r) => r.id) });
    await dealPartners(trx, rows.map((r) => r.unit_id), leaseTtlMs);
    return rows.length;
  });
}
