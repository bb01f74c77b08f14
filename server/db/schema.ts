import type { ColumnType, Generated } from 'kysely';

/** jsonb: read as T, written as JSON text (both drivers then agree on the encoding). */
type Json<T> = ColumnType<T, string, string>;

/** Row types, one per table of `migrations/`. Timestamps come back as Date. */
export interface Database {
  turns: {
    name: string;
    holder: string;
    until: Date;
  };
  accounts: {
    id: Generated<string>;
    email: string;
    password_hash: string;
    created_at: Generated<Date>;
    valid: Generated<number>;
    invalid: Generated<number>;
    expired: Generated<number>;
    quarantined_at: Date | null;
    /** Signs its jobs' webhooks: whsec_ and 24 random bytes in base64. */
    webhook_secret: Generated<string | null>;
  };
  login_failures: {
    id: Generated<string>;
    email: string;
    ip: string;
    at: Generated<Date>;
  };
  sessions: {
    id_hash: string;
    account_id: string;
    created_at: Generated<Date>;
    expires_at: Date;
  };
  api_keys: {
    id: Generated<string>;
    account_id: string;
    name: string;
    key_hash: string;
    prefix: string;
    created_at: Generated<Date>;
    last_used_at: Date | null;
    revoked_at: Date | null;
  };
  blobs: {
    sha256: string;
    size: number;
    account_id: string | null;
    created_at: Generated<Date>;
    /** The bytes of a small blob kept in the store itself (migration 0011); null: in the blob backend. */
    data: Uint8Array | null;
  };
  jobs: {
    id: Generated<string>;
    account_id: string;
    kind: string;
    spec: Json<unknown>;
    /** Private to the workload: what shard computed and assemble needs (shapes, tiling). */
    plan: Json<unknown>;
    state: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
    replication: number;
    verification: Generated<'check' | 'replicate'>;
    /** Set while a large job's units are still being written (server/jobs/finish.ts, writeUnits). */
    writing_until: Date | null;
    units_total: number;
    /** Where the queue walk starts (server/nodes/queue.ts). */
    claim_from: Generated<number>;
    units_verified: Generated<number>;
    /** FLOPs of its units inserted so far, less those dropped (the market's demand, server/market/price.ts). */
    units_flops: Generated<number>;
    flops: number;
    result_sha256: string | null;
    /** What the result is, as its workload's assemble said (migration 0013). */
    result_type: Generated<string | null>;
    result_extension: Generated<string | null>;
    /** The developer's name for the job, and tags to find it by. */
    name: Generated<string | null>;
    tags: Generated<string[]>;
    /** Told when the job ends (migration 0016, server/jobs/webhooks.ts). */
    webhook_url: Generated<string | null>;
    error: string | null;
    created_at: Generated<Date>;
    updated_at: Generated<Date>;
    finished_at: Date | null;
    /** Credits per GFLOP offered, in µcr (server/ledger/credit.ts). */
    bid: Generated<number>;
    /** µcr moved into the job's escrow account at submission (and top-ups). */
    escrow: Generated<number>;
    /** µcr: every unit's pay at the bid × the executions verification expects. */
    estimate: Generated<number>;
    /** A job with rounds (migration 0018): the round now, when it goes on without stragglers, and the units the whole job will have had. */
    round: Generated<number>;
    round_deadline_at: Date | null;
    units_planned: number | null;
  };
  units: {
    id: Generated<string>;
    job_id: string;
    idx: number;
    params: Json<unknown>;
    inputs: Json<string[]>;
    flops: number;
    state: 'pending' | 'verified' | 'failed' | 'cancelled';
    replicas: number;
    result_sha256: string | null;
    created_at: Generated<Date>;
    verified_at: Date | null;
    /** The node dealt this unit's next replica (server/verify/deal.ts), until partner_due. */
    partner_node: string | null;
    partner_due: Date | null;
    /** The round of a job with rounds that made it (migration 0018); 0 otherwise. */
    round: Generated<number>;
  };
  nodes: {
    id: Generated<string>;
    account_id: string | null;
    token_hash: string;
    name: string;
    caps: Json<unknown>;
    gflops: number;
    connected_at: Generated<Date>;
    last_seen_at: Generated<Date>;
    disconnected_at: Date | null;
    valid: Generated<number>;
    invalid: Generated<number>;
    expired: Generated<number>;
    streak: Generated<number>;
    quarantined_at: Date | null;
    spot_ok_at: Date | null;
    prefix: string | null;
    /** The least µcr per GFLOP this node works for. */
    ask: Generated<number>;
    /** The site a widget node works for. */
    site_id: string | null;
    draw: Generated<number>;
    /** GFLOP/s as the coordinator measured it from results; 0 before the first. */
    rate_gflops: Generated<number>;
    last_result_at: Date | null;
    paused_at: Date | null;
    releases: Generated<number>;
    releases_since: Generated<Date>;
    /** Blob bytes moved, as the node says (migration 0017). */
    bytes_from_peers: Generated<number>;
    bytes_from_coordinator: Generated<number>;
    bytes_to_peers: Generated<number>;
    /** Accounts that said it served bad bytes to them. */
    peer_faults: Generated<number>;
  };
  sites: {
    id: Generated<string>;
    account_id: string;
    name: string;
    key: string;
    origins: Json<string[]>;
    throttle: Generated<number>;
    created_at: Generated<Date>;
    deleted_at: Date | null;
  };
  widget_sessions: {
    id: Generated<string>;
    site_id: string;
    token_hash: string;
    origin: string;
    created_at: Generated<Date>;
    expires_at: Date;
  };
  attempts: {
    id: Generated<string>;
    unit_id: string;
    node_id: string;
    holder: string;
    token: string;
    state: 'leased' | 'returned' | 'valid' | 'invalid' | 'expired' | 'failed' | 'cancelled';
    deadline: Date;
    result_sha256: string | null;
    error: string | null;
    created_at: Generated<Date>;
    returned_at: Date | null;
    lone: Generated<boolean>;
    prefix: string | null;
    known: Generated<boolean>;
    /** A result of a node caught lying: judged again, but no vote of its own. */
    suspect: Generated<boolean>;
    released: Generated<boolean>;
    streak_lost: Generated<number>;
  };
  uploads: {
    sha256: string;
    uploader: string;
    at: Generated<Date>;
  };
  ledger_accounts: {
    id: string;
    kind: 'user' | 'escrow' | 'system';
    account_id: string | null;
    job_id: string | null;
    debits_pending: Generated<number>;
    debits_posted: Generated<number>;
    credits_pending: Generated<number>;
    credits_posted: Generated<number>;
    /** Posted pays for verified work and vetting pays it received (migration 0020). */
    earned: Generated<number>;
    created_at: Generated<Date>;
  };
  transfers: {
    seq: number;
    id: string;
    debit_account_id: string;
    credit_account_id: string;
    amount: number;
    kind: 'single' | 'pending' | 'post' | 'void';
    pending_id: string | null;
    code: string;
    job_id: string | null;
    attempt_id: string | null;
    timeout_at: Date | null;
    memo: string | null;
    created_at: Date;
    prev_hash: string;
    hash: string;
  };
  transfers_pending: {
    id: string;
    timeout_at: Date | null;
    job_id: string | null;
    attempt_id: string | null;
  };
  ledger_head: {
    one: Generated<boolean>;
    seq: number;
    hash: string;
  };
  ledger_checkpoints: {
    seq: number;
    hash: string;
    at: Date;
    public_key: string;
    signature: string;
  };
  market_prices: {
    id: Generated<number>;
    at: Generated<Date>;
    price: number;
    demand_flops: number;
    supply_gflops: number;
  };
  webhook_deliveries: {
    id: Generated<string>;
    job_id: string;
    event: string;
    url: string;
    state: Generated<'pending' | 'delivered' | 'failed'>;
    attempts: Generated<number>;
    next_at: Generated<Date>;
    last_status: number | null;
    last_error: string | null;
    created_at: Generated<Date>;
    delivered_at: Date | null;
  };
}
