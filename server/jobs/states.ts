/**
 * The state machines of record. Every move below is one UPDATE guarded by the state it
 * leaves (`where state = …`), so a move applies at most once however many coordinator
 * processes race for it, and a restart resumes from whatever the rows say.
 *
 * Job
 *   queued ──first lease──▶ running ──last unit verified, result assembled──▶ done
 *   queued | running ──a unit failed, or its units' writing stopped (its coordinator died while
 *     a large job was submitted: finish.ts, writeUnits)──▶ failed
 *   queued | running ──DELETE /api/jobs/:id──▶ cancelled
 *
 * Unit
 *   pending ──quorum of agreeing replicas from different accounts──▶ verified
 *   pending ──replicas disagree at `replicasMax` with `disagreeingTrustedMin` of them trusted, or
 *     at `replicasCap` whoever sent them; or `failuresMax` distinct nodes report failure──▶ failed
 *   (a lease that lapsed is not evidence about the unit: it goes back to the queue)
 *   pending ──job cancelled──▶ cancelled
 *   While pending, a unit wants `replicas` agreeing results; a disagreement raises `replicas` by
 *   one to break the tie. With no live attempt it is in the queue (any eligible node may claim
 *   it); once its replicas in flight have all returned, each further one is dealt to a node
 *   drawn at random (units.partner_node, server/verify/deal.ts) and the queue passes it by.
 *
 * Attempt (one execution of a unit by one node; state 'leased' is the lease)
 *   leased ──result with the lease's token before the deadline──▶ returned
 *   leased ──such a result that passed its workload's check (`check` jobs)──▶ valid (one write)
 *   leased ──deadline passed (sweeper), or a result after it──▶ expired
 *   leased ──node reports an error──▶ failed
 *   leased | returned ──unit decided without it, or job cancelled──▶ cancelled
 *   returned ──agrees with the accepted result──▶ valid
 *   returned ──disagrees, or malformed──▶ invalid
 *   valid ──its node, or its partner's, caught lying while the job is open, and the verdict
 *     does not hold without the caught node──▶ returned (the caught node's own as suspect:
 *     judged again without a vote); a verdict that holds stands, the caught node's result
 *     valid but suspect (server/verify/adaptive.ts)
 *   invalid ──the verdict that outvoted it withdrawn──▶ returned (its offence cleared)
 */
export const jobOpen = ['queued', 'running'] as const;
export const jobTerminal = ['done', 'failed', 'cancelled'] as const;

/** Agreeing results from different accounts that verify a unit. */
export const quorum = 2;
/**
 * Live replicas a unit may grow to while its results disagree, before the disagreement is
 * taken as evidence about the unit — if `disagreeingTrustedMin` of them came from trusted
 * nodes. Past it, a unit whose disagreeing results came mostly from unproven nodes asks on (its
 * tie-breaks dealt to trusted nodes first, server/verify/deal.ts) up to `replicasCap`. A fixed cap
 * failed jobs on evidence about nodes: with a fifth of the nodes lying in different ways, one
 * honest result among three distinct lies happened in 2 of 800 units of a chaos run (the cap
 * was 4), and at 6 one unit's replicas went to five different liars and one honest node.
 */
export const replicasMax = 6;
/** Results from distinct trusted nodes (reputation.ts) that, all disagreeing, fail a unit at `replicasMax`. */
export const disagreeingTrustedMin = 3;
/** The most replicas a unit ever asks for: among strangers only, the disagreement fails it here. */
export const replicasCap = 12;
/** Distinct nodes whose failure reports give a unit up as failing everywhere (lapses never count). */
export const failuresMax = 8;
