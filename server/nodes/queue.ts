import { sql } from 'kysely';
import type { Db, Trx } from '../db/index.ts';
import { planEachTime } from '../db/prepared.ts';
import { agingSeconds } from '../market/price.ts';
import type { LeaseHolder } from './leases.ts';

/**
 * Where claims find their units, at a cost that does not grow with the queue.
 *
 * A dealt unit (server/verify/deal.ts) is found through its own index (units.partner_node).
 * Otherwise the open jobs the node may work for — its kinds, its ask, an owner who can pay a
 * unit (checked once per job, from the job's mean unit) — are taken highest priority first: a
 * job's bid, doubled for every `agingSeconds` it has waited, so a low bid is served later but
 * never starves. That list is of jobs, not units. A pump round claims for every node that
 * wants work at once: per job, the first pending units with no live replica are read once
 * through units_pending (job_id, idx), as many as the round wants plus `claimSpread`, with who
 * already ran each (the holder and network rules are applied in memory per node); each node
 * takes a random one among the first `claimSpread` it may take. What the read passes over are
 * units in flight or waiting for a dealt replica — bounded by the nodes at work, not by the
 * units queued behind them (bench/coordinator). `for update of u skip locked`: concurrent
 * claimers (another coordinator process) pass over units being claimed instead of waiting.
 */
export const claimSpread = 16;
/** Jobs a claim looks into before it gives up (the rest wait for the next claim). */
export const jobsPerClaimMax = 20;
/** A unit of a replicate job that a node released is not leased to it again from the queue for
 * this long (fishing for pairs; where each result is checked alone there is nothing to fish). */
export const releaseBarMs = 10 * 60_000;

export interface Candidate {
  id: string;
  idx: number;
  job_id: string;
  kind: string;
  params: Record<string, unknown>;
  inputs: string[];
  flops: number;
  verification: string;
  replication: number;
  bid: number;
  /** Its job's state when claimed: a queued job starts running with its first lease. */
  job_state: string;
  partner_node: string | null;
}

/** A queued unit with what bars it to some nodes: the holders and networks of its replicas
 * (known-answer attempts do not count), and the nodes that released it lately. */
export interface QueuedCandidate extends Candidate {
  holders: string[];
  prefixes: string[];
  released: string[];
}

/** Never two replicas of a unit to one holder (account) or one network; known-answer attempts do not count. */
const barred = (who: LeaseHolder) => sql`
  not exists (select 1 from attempts a where a.unit_id = u.id and a.holder = ${who.holder}
    and a.state in ('leased', 'returned', 'valid', 'invalid') and not a.known)
  and (${who.prefix}::text is null or not exists (select 1 from attempts a where a.unit_id = u.id
    and a.prefix = ${who.prefix} and a.state in ('leased', 'returned', 'valid') and not a.known))`;

/**
 * No live replica holds it (suspect and known-answer results do not count). A probe of the
 * unit's attempts for each unit walked: a scalar subquery, which the planner cannot turn into a
 * join. As NOT EXISTS it was planned, when the statistics promised many units, as an anti-join
 * against every attempt in a live or judged state, read whole by each claim: the job's history
 * (6,013 rows by one claim after 6,000 verified units, tests/nodes/flat-claims.test.ts). Written
 * `… is null`, the planner took 0.5% of units to pass and read all of a job's pending units to
 * sort them (4,400 rows a claim in the bench); `not coalesce(…, false)` it takes for half.
 */
const claimable = sql`not coalesce((select true from attempts a where a.unit_id = u.id and not a.known and not a.suspect
  and (a.state = 'returned' or (a.state = 'leased' and a.deadline > now())) limit 1), false)`;

/** The same rule (and the release bar of replicate units) on a queued candidate, in memory. */
export const barredFrom = (who: LeaseHolder, c: QueuedCandidate) =>
  c.holders.includes(who.holder) || (who.prefix !== null && c.prefixes.includes(who.prefix)) || (c.verification === 'replicate' && c.released.includes(who.nodeId));

/** The unit dealt to this node as a partner, if any. */
export async function dealtUnit(trx: Trx, who: LeaseHolder): Promise<Candidate | undefined> {
  const found = await sql<Candidate>`
    select u.id, u.idx, u.job_id, j.kind, u.params, u.inputs, u.flops, j.verification, j.replication, j.bid, j.state as job_state, u.partner_node
    from units u join jobs j on j.id = u.job_id
    where u.partner_node = ${who.nodeId} and u.state = 'pending' and j.state in ('queued', 'running') and ${barred(who)}
    limit 1 for update of u skip locked`.execute(trx);
  return found.rows[0];
}

/** The open jobs `who` may work for, highest priority first (at most jobsPerClaimMax). */
async function openJobs(trx: Trx, who: LeaseHolder): Promise<{ id: string; claim_from: number }[]> {
  const anonymous = who.holder.startsWith('anon:');
  // An account's lease reserves its pay in the job's escrow, topped up from the owner's wallet
  // (server/ledger/payments.ts); a job whose owner cannot cover a unit waits. Anonymous nodes earn nothing.
  const jobs = await sql<{ id: string; claim_from: number }>`
    select j.id, j.claim_from from jobs j
    where j.state in ('queued', 'running') and j.units_verified < j.units_total
      and j.bid >= ${who.ask} and j.kind in (${sql.join(who.kinds)})
      and (${anonymous}
           or (select coalesce(sum(e.credits_posted - e.debits_posted - e.debits_pending), 0) from ledger_accounts e
               where e.id in ('escrow:' || j.id::text, 'user:' || j.account_id::text))
              >= ceil(j.flops::numeric / coalesce(j.units_planned, j.units_total) * j.bid / 1e12))
    order by j.bid * power(2, least(extract(epoch from now() - j.created_at) / ${agingSeconds}, 60)) desc, j.created_at
    limit ${sql.lit(jobsPerClaimMax)}`.execute(trx);
  return jobs.rows;
}

/**
 * The first `count` pending units of a job that no live replica holds and no deal waits on,
 * locked, with who ran them before. Two index probes a row; most units were never tried, and
 * who ran the others is read in one more query (per-row subqueries for it tripled the cost).
 */
async function jobCandidates(trx: Trx, job: { id: string; claim_from: number }, count: number): Promise<QueuedCandidate[]> {
  // `tried` is a probe per row the walk returns, as a lateral join, which cannot be hashed: as an
  // EXISTS the planner chose to hash every attempt's unit once per claim (inside the walk or
  // after it), 0.3 ms at the start of a bench run and 18 ms at its end, a cost that grew with
  // the history.
  const found = await sql<Candidate & { tried: boolean }>`${sql.raw(planEachTime)}
    select c.*, t.tried is not null as tried from (
      select u.id, u.idx, u.job_id, j.kind, u.params, u.inputs, u.flops, j.verification, j.replication, j.bid, j.state as job_state, u.partner_node
      from units u join jobs j on j.id = u.job_id
      where u.job_id = ${job.id} and u.state = 'pending' and u.idx >= ${job.claim_from} and u.partner_node is null and ${claimable}
      order by u.idx
      limit ${sql.lit(count)}
      for update of u skip locked) c
    left join lateral (select true as tried from attempts a where a.unit_id = c.id limit 1) t on true
    order by c.idx`.execute(trx);
  const tried = found.rows.filter((u) => u.tried).map((u) => u.id);
  const past = tried.length
    ? await trx
        .selectFrom('attempts')
        .select(['unit_id', 'holder', 'prefix', 'node_id', 'state', 'known', 'released', 'created_at'])
        .where('unit_id', 'in', tried)
        .execute()
    : [];
  const since = Date.now() - releaseBarMs;
  return found.rows.map(({ tried: _, ...u }) => {
    const mine = past.filter((a) => a.unit_id === u.id);
    return {
      ...u,
      holders: mine.filter((a) => !a.known && ['leased', 'returned', 'valid', 'invalid'].includes(a.state)).map((a) => a.holder),
      prefixes: mine.filter((a) => !a.known && a.prefix !== null && ['leased', 'returned', 'valid'].includes(a.state)).map((a) => a.prefix!),
      released: mine.filter((a) => a.released && a.created_at.getTime() > since).map((a) => a.node_id),
    };
  });
}

/**
 * Queued units for several nodes at once (one pump round): `wants[i]` units for `nodes[i]`,
 * fewer where the queue has fewer it may take; no unit twice. Jobs are listed once per kind of
 * node (ask, kinds, anonymity) and each job's candidates are read once for the round; each
 * node, in random order, takes a random one among the first `claimSpread` it may take.
 */
export async function queuedUnits(trx: Trx, nodes: LeaseHolder[], wants: number[], holdings: { canTake(i: number): boolean; take(i: number, flops: number): void }): Promise<{ got: QueuedCandidate[][]; cursors: Map<string, number> }> {
  const got: QueuedCandidate[][] = nodes.map(() => []);
  const groups = new Map<string, number[]>();
  nodes.forEach((who, i) => {
    if (wants[i]! <= 0) return;
    const key = JSON.stringify([who.ask, [...who.kinds].sort(), who.holder.startsWith('anon:')]);
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const pools = new Map<string, QueuedCandidate[]>();
  const walked = new Map<string, { from: number; to: number }>();
  for (const members of groups.values()) {
    const jobs = await openJobs(trx, nodes[members[0]!]!);
    for (const job of jobs) {
      const needing = members.filter((i) => got[i]!.length < wants[i]! && holdings.canTake(i));
      if (!needing.length) break;
      let pool = pools.get(job.id);
      if (!pool) {
        const need = needing.reduce((sum, i) => sum + wants[i]! - got[i]!.length, 0);
        pools.set(job.id, (pool = await jobCandidates(trx, job, need + claimSpread)));
        walked.set(job.id, { from: job.claim_from, to: pool.length ? pool.at(-1)!.idx + 1 : job.claim_from });
      }
      for (const i of shuffled(needing)) {
        while (got[i]!.length < wants[i]! && holdings.canTake(i)) {
          const open = pool.filter((c) => !barredFrom(nodes[i]!, c)).slice(0, claimSpread);
          if (!open.length) break;
          const pick = open[Math.floor(Math.random() * open.length)]!;
          pool.splice(pool.indexOf(pick), 1);
          got[i]!.push(pick);
          holdings.take(i, pick.flops);
        }
      }
    }
  }
  // The walk starts next time at the first unit left here; what it passed was leased now or in flight.
  const cursors = new Map<string, number>();
  for (const [jobId, { from, to }] of walked) {
    const left = pools.get(jobId)!;
    const next = left.length ? Math.min(...left.map((c) => c.idx)) : to;
    if (next > from) cursors.set(jobId, next);
  }
  return { got, cursors };
}

/**
 * Moves the jobs' walks where a claim left them (queuedUnits' `cursors`). The job's row is the
 * hottest in the store (every claim and every verdict of every coordinator writes it), so this
 * is the claim's last statement: its lock is held for the commit only. Three coordinators on
 * one PostgreSQL spent most of their waits on it when it came mid-claim.
 */
export async function moveCursors(trx: Trx, cursors: Map<string, number>) {
  if (!cursors.size) return;
  await sql`update jobs j set claim_from = v.next
    from (values ${sql.join([...cursors].map(([id, next]) => sql`(${id}::uuid, ${next}::int)`))}) as v(id, next)
    where j.id = v.id`.execute(trx);
}

/**
 * Moves each open job's walk back to its first unit that can be claimed from the queue (a
 * lease lapsed, failed or was released behind it, or a claim of another process skipped it).
 * The sweeper's, once a second: a unit behind the cursor waits at most that long.
 */
export async function rewindClaims(db: Db) {
  // Only the units behind the cursor are read (those in flight, bounded by the nodes at work),
  // in idx order to the first claimable one: a min() over the job's pending units read them all
  // (10,000 a second at 10,000 queued, which cut the bench from 31 to 4 verified/s).
  await sql`update jobs j set claim_from = b.idx from (
      select o.id, (select u.idx from units u where u.job_id = o.id and u.state = 'pending' and u.idx < o.claim_from
        and u.partner_node is null and ${claimable} order by u.idx limit 1) as idx
      from jobs o where o.state in ('queued', 'running') and o.claim_from > 0) b
    where b.id = j.id and b.idx is not null`.execute(db);
}

function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
