import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { principalFromBearer, principalFromSession, sessionCookie } from '../auth/principal.ts';
import { randomSecret, sha256Hex } from '../auth/secrets.ts';
import type { Deps, Principal } from '../context.ts';
import { assembleJob, sweepJobs } from '../jobs/finish.ts';
import { frameBytesMax, inlineBytesMax, inlineInputBytesMax, nodeMessage, peerKey, peerPath, type CoordinatorMessage, type NodeMessage } from '../protocol/messages.ts';
import { microPerCredit } from '../ledger/credit.ts';
import { openAccount, userAccount } from '../ledger/ledger.ts';
import { describeIssues } from '../validate.ts';
import { takeTurn } from '../db/turns.ts';
import { BlobHolders } from './holders.ts';
import { claimUnits, expireLeases, extendLeases, type LeaseHolder } from './leases.ts';
import { clientAddress, networkPrefix } from './prefix.ts';
import { rewindClaims } from './queue.ts';
import { acceptResults, decideStalled, failAttempt, releaseForgotten, type Outcome, type ResultReport } from './results.ts';

/**
 * Node connection
 *   open ──hello──▶ ready ──request/heartbeat/result/fail…──▶ ready ──close──▶ gone
 *   Before hello only hello is understood. `badFramesMax` malformed frames close it (1008).
 * What a connection holds in memory (wanted slots, the socket) is not of record: losing it
 * costs at most the leases in flight, which lapse and go back to the queue.
 */
const badFramesMax = 5;
const slotsMax = 4;
const pumpMs = 250;
/** After a round that found no work for anyone, timer pumps rest this long. Work made here
 * (a job, a result, an expiry, a request) pumps at once; work another coordinator process
 * makes waits at most this long. Without it, 50 idle nodes cost 200 claim transactions/s. */
const quietMs = 1000;
/** Results judged in one transaction at most (a batch is what came while the last was judged). */
const reportsPerBatchMax = 64;
/** Claim rounds start at least this long apart: requests that come meanwhile are served by one
 * round, one transaction (group commit). Nodes ask one slot at a time as results go in, so
 * without a gap nearly every round served one node. */
const roundGapMs = 20;
/** Result batches start at least this long apart (group commit, as claim rounds): without it a
 * batch of one started as soon as a round's first result came, and the rest waited for the
 * next (the bench's batches were of 1 or of 12-16; 8.3 on average, 12.8 with it). */
const batchGapMs = 20;
/** A node that found no work is asked again when work appears here (a job, a failure, a
 * release, a lapse, a replica wanted) or, for work made by time or by another coordinator
 * process (and a new node's known-answer units, offered on a fifth of its claims), after this
 * long. Without it every result's pump round re-tried every idle node: in the chaos run's tail
 * 50 idle nodes made 155 futile claims a second, the store busy 90% of the time, and the last
 * 30 units took 60 s; now at most one claim per idle node a second. */
const dryRecheckMs = 1000;
const seenWriteMs = 1000;
/** Inputs a connection is remembered to have been sent inline: ~100 bytes each, and only nodes at work have any. */
const inlinedPerConnMax = 256;
const seenPerWrite = 2000;

interface Conn {
  ws: WebSocket;
  principal: Principal | null;
  /** The network the socket comes from (nodes/prefix.ts), null where unknown. */
  prefix: string | null;
  node: LeaseHolder | null;
  wanted: number;
  badFrames: number;
  busy: Promise<void>;
  /** The claim round that serves its latest request: an answer to a later frame (an ack) waits
   * for it, so it never overtakes the leases asked for before it. */
  served: Promise<void>;
  /** When its hello was taken: a late close of this socket must not mark a resumed node gone. */
  helloAt: Date | null;
  paused: boolean;
  /** It may take no more leases now (server/nodes/leases.ts): the pump passes it by until its
   * holdings change (a result, a failure, a release) or the next sweep. Without it, every pump
   * round re-tried every full node: 34,000 claims for 522 leases in a 30-node run. */
  full: boolean;
  /** The work generation at which its last claim found nothing: passed by until work appears. */
  dryAt: number;
  /** Named as a peer to no one: `peerFaultsMax` accounts said it served them bad bytes. */
  peerBarred: boolean;
  /** It serves peers (it said `have`, and not `serving: false` since). */
  serving: boolean;
  /** Inputs sent inside this connection's lease frames (#inlineFor); made on the first, so an idle socket costs nothing more. */
  inlined: Set<string> | null;
}

/** Peers a lease names for each input, at most. */
export const peersPerBlob = 3;
/**
 * Accounts that must say a peer served them bad bytes before it is named to no one again. A
 * report cannot be proved (the bytes stay with the reporter), so one account alone can only
 * stop it being named for that blob; two independent ones bar it for good (nodes.peer_faults).
 * The worst a pair of colluding accounts can do is stop an honest node from serving peers,
 * which costs it nothing it is paid for; a liar is caught at its first bad chunk by the hash.
 */
export const peerFaultsMax = 2;

export class NodeHub {
  readonly conns = new Set<Conn>();
  /** Who holds which blobs, from `have` frames (server/nodes/holders.ts). */
  readonly holders = new BlobHolders<Conn>();
  /** The connection of each node welcomed here, by node id: who a peer report is about. */
  #byNode = new Map<string, Conn>();
  /** Per node: the accounts that reported it for bad bytes (in memory; the bar itself is kept in nodes.peer_faults). */
  #peerReports = new Map<string, Set<string>>();
  readonly wss = new WebSocketServer({ noServer: true, maxPayload: frameBytesMax });
  #timers: NodeJS.Timeout[] = [];
  /** A claim round is running. */
  #pumping = false;
  #closed = false;
  #quietUntil = 0;
  #roundEnded = 0;
  /** Bumped whenever work may have appeared for nodes that found none. */
  #generation = 0;
  #recheckedAt = Date.now();
  /** Leases lapse only from one lease time after this process started (see sweep). */
  readonly #expiresFrom: number;

  /** Background work in flight, so close() can wait for it before the store goes. */
  #running = new Set<Promise<unknown>>();

  constructor(private readonly deps: Deps) {
    this.#expiresFrom = Date.now() + deps.config.leaseTtlMs;
    deps.signals.on((signal) => {
      if (signal.type === 'work') {
        this.#generation++; // another coordinator's work: asked again here, not announced again
        void this.pump();
      } else this.#cancel(signal.attempts, signal.reason);
    });
    this.#timers.push(
      setInterval(() => Date.now() >= this.#quietUntil && this.#track(this.pump()), pumpMs),
      setInterval(() => this.#track(this.sweep()), deps.config.sweepMs),
      setInterval(() => this.#track(this.#writeSeen()), seenWriteMs),
    );
  }

  /** Nodes heard from since the last write of nodes.last_seen_at. */
  #seen = new Set<string>();

  /**
   * One UPDATE a second for every node heard from, instead of one per frame: 10,000 idle nodes
   * heartbeating every 10 s were 1,000 single-row updates a second, 0.74 of a core here
   * (bench/sockets.ts).
   */
  async #writeSeen() {
    if (!this.#seen.size) return;
    const ids = [...this.#seen];
    this.#seen.clear();
    try {
      for (let i = 0; i < ids.length; i += seenPerWrite) await this.deps.db.updateTable('nodes').set({ last_seen_at: new Date() }).where('id', 'in', ids.slice(i, i + seenPerWrite)).execute();
    } catch (err) {
      console.error('writing when nodes were last seen failed:', (err as Error).message);
    }
  }

  #track(work: Promise<unknown>) {
    this.#running.add(work);
    void work.finally(() => this.#running.delete(work));
  }

  /** HTTP upgrade on /api/nodes/ws. Credentials: Bearer key, `?key=`, or the session cookie. */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
    const url = new URL(req.url ?? '/', 'http://x');
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? url.searchParams.get('key');
    const cookie = req.headers.cookie?.match(new RegExp(`${sessionCookie}=([^;]+)`))?.[1];
    let principal: Principal | null = null;
    try {
      if (bearer) principal = await principalFromBearer(this.deps, bearer);
      else if (cookie) principal = await principalFromSession(this.deps, cookie);
    } catch {
      principal = null;
    }
    if (bearer && !principal) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\n\r\nThe API key is not valid.\n');
      return;
    }
    const prefix = networkPrefix(clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], this.deps.config.trustedProxies));
    this.wss.handleUpgrade(req, socket, head, (ws) => this.#open(ws, principal, prefix));
  }

  #open(ws: WebSocket, principal: Principal | null, prefix: string | null) {
    const conn: Conn = { ws, principal, prefix, node: null, wanted: 0, badFrames: 0, busy: Promise.resolve(), served: Promise.resolve(), helloAt: null, paused: false, full: false, dryAt: -1, peerBarred: false, serving: false, inlined: null };
    this.conns.add(conn);
    ws.on('message', (data, isBinary) => {
      if (this.#closed) return;
      // Frames of one socket are handled in order; a slow one does not reorder the next.
      conn.busy = conn.busy.then(() => this.#frame(conn, isBinary ? null : data.toString())).catch((err) => {
        this.#send(conn, { type: 'error', code: 'internal', message: 'The coordinator failed on that frame; try again.' });
        console.error('node frame failed:', err);
      });
    });
    ws.on('close', () => {
      this.conns.delete(conn);
      this.holders.forget(conn);
      if (conn.node && this.#byNode.get(conn.node.nodeId) === conn) this.#byNode.delete(conn.node.nodeId);
      if (conn.node && conn.helloAt) {
        const nodeId = conn.node.nodeId;
        // Gone: units dealt to it are drawn again by the next sweep, not after their deal lapses.
        void this.deps.db.updateTable('nodes').set({ disconnected_at: new Date() }).where('id', '=', nodeId).where('connected_at', '<=', conn.helloAt).execute()
          .then(() => this.deps.db.updateTable('units').set({ partner_due: new Date() }).where('partner_node', '=', nodeId).where('state', '=', 'pending').execute())
          .catch(() => {});
      }
    });
    ws.on('error', () => ws.terminate());
  }

  #send(conn: Conn, message: CoordinatorMessage) {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify(message));
  }

  #bad(conn: Conn, message: string) {
    conn.badFrames++;
    this.#send(conn, { type: 'error', code: 'bad_frame', message });
    if (conn.badFrames >= badFramesMax) conn.ws.close(1008, 'too many malformed frames');
  }

  async #frame(conn: Conn, text: string | null) {
    if (text === null) return this.#bad(conn, 'Binary frames are not part of the protocol: send JSON text.');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return this.#bad(conn, 'The frame is not JSON.');
    }
    const parsed = nodeMessage.safeParse(json);
    if (!parsed.success) return this.#bad(conn, `The frame does not fit the protocol: ${describeIssues(parsed.error)}.`);
    const msg = parsed.data;
    if (msg.type === 'hello') return this.#hello(conn, msg);
    const node = conn.node;
    if (!node) return this.#bad(conn, 'Say hello first.');
    // Any frame says the node is alive (only live nodes are dealt replicas): noted here, written
    // for every node heard from in one statement a second (#writeSeen).
    this.#seen.add(node.nodeId);
    if (msg.type === 'fail' || msg.type === 'release') conn.full = false; // a result's verdict clears it (below)
    switch (msg.type) {
      case 'request':
        conn.wanted = Math.min(slotsMax, conn.wanted + msg.slots);
        conn.dryAt = -1;
        if (conn.paused) {
          conn.paused = false;
          await this.deps.db.updateTable('nodes').set({ paused_at: null }).where('id', '=', node.nodeId).execute();
        }
        // Not awaited: the socket's next frames are read while the round runs, so requests that
        // come one after another (a node asks a slot as each unit finishes) add up and are served
        // by one round. Awaited, a node got one lease a round whatever its free slots: the bench's
        // 48 nodes had 1 slot wanted each at every round, with 4 free (bench/coordinator.ts).
        conn.served = this.pump();
        return;
      case 'heartbeat': {
        const moved = msg.blobBytes;
        if (moved && moved.fromPeers + moved.fromCoordinator + moved.toPeers > 0) {
          await this.deps.db
            .updateTable('nodes')
            .set((eb) => ({ bytes_from_peers: eb('bytes_from_peers', '+', moved.fromPeers), bytes_from_coordinator: eb('bytes_from_coordinator', '+', moved.fromCoordinator), bytes_to_peers: eb('bytes_to_peers', '+', moved.toPeers) }))
            .where('id', '=', node.nodeId)
            .execute();
        }
        return extendLeases(this.deps.db, node.nodeId, msg.attempts, this.deps.config.leaseTtlMs);
      }
      case 'have':
        if (conn.peerBarred) return;
        conn.serving = msg.serving ?? true;
        if (!conn.serving) return this.holders.forget(conn);
        this.holders.add(conn, msg.blobs);
        this.holders.drop(conn, msg.dropped ?? []);
        return;
      case 'peer-report':
        return this.#peerReport(conn, msg);
      case 'pause':
        conn.wanted = 0;
        conn.paused = true; // and dealt no partners meanwhile (server/verify/deal.ts)
        await this.deps.db.updateTable('nodes').set({ paused_at: new Date() }).where('id', '=', node.nodeId).execute();
        return;
      case 'fail':
      case 'release': {
        const [state, reason] = msg.type === 'fail' ? (['failed', msg.reason] as const) : (['cancelled', `released by the node: ${msg.reason}`] as const);
        const served = conn.served;
        const done = await failAttempt(this.deps.db, node.holder, msg.attemptId, msg.token, reason, state, this.deps.config.leaseTtlMs);
        if (msg.type === 'fail') void served.then(() => this.#send(conn, { type: 'ack', attemptId: msg.attemptId, status: done ? 'accepted' : 'refused' }));
        void (done ? this.workAppeared() : this.pump());
        return;
      }
      case 'result': {
        const served = conn.served;
        const timer = this.deps.metrics.resultSeconds.startTimer();
        let bytes: Uint8Array | undefined;
        if (msg.data !== undefined) {
          bytes = Buffer.from(msg.data, 'base64');
          if (bytes.byteLength > inlineBytesMax || sha256Hex(bytes) !== msg.output) {
            timer({ status: 'refused' });
            const reason = `the frame's data ${bytes.byteLength > inlineBytesMax ? `is over ${inlineBytesMax} bytes: upload it (PUT /api/blobs)` : 'does not hash to its output'}`;
            return void served.then(() => this.#send(conn, { type: 'ack', attemptId: msg.attemptId, status: 'refused', reason }));
          }
        }
        // Judged with the next batch; the socket's next frames are not held up meanwhile, so a
        // node's results that come together are judged together (held up, a batch had one
        // result per node at most: 16 nodes, 16 results a batch, whatever their slots).
        const judged = this.#judge({ holder: node.holder, attemptId: msg.attemptId, token: msg.token, output: msg.output, bytes, accountId: conn.principal?.accountId ?? null }).then(
          async (outcome) => {
            timer({ status: outcome.status });
            this.deps.metrics.results.inc({ status: outcome.status });
            if (outcome.status === 'accepted' && outcome.verified) this.deps.metrics.verifiedUnits.inc();
            await served;
            this.#send(conn, outcome.status === 'accepted'
              ? { type: 'ack', attemptId: msg.attemptId, status: 'accepted' }
              : { type: 'ack', attemptId: msg.attemptId, status: 'refused', reason: outcome.reason });
            conn.full = false; // its holdings changed now, as the verdict left the store, not when the frame came
            return outcome.newWork ? this.workAppeared() : this.pump();
          },
          (err) => {
            this.#send(conn, { type: 'error', code: 'internal', message: 'The coordinator failed on that frame; try again.' });
            console.error('judging a result failed:', err);
          },
        );
        this.#track(judged);
        return;
      }
    }
  }

  /** Results wait here while a batch is judged; the next batch takes all of them (group commit). */
  #reports: { report: ResultReport; done: (o: Outcome) => void; failed: (err: unknown) => void }[] = [];
  #judging = false;

  #judge(report: ResultReport): Promise<Outcome> {
    const outcome = new Promise<Outcome>((done, failed) => this.#reports.push({ report, done, failed }));
    if (!this.#judging) this.#track(this.#judgeBatches());
    return outcome;
  }

  #batchStarted = 0;

  async #judgeBatches() {
    this.#judging = true;
    try {
      while (this.#reports.length) {
        // Group commit: batches start `batchGapMs` apart, and at least after the frames already
        // read are handled (a node's results that came in one packet are judged together).
        const wait = this.#batchStarted + batchGapMs - Date.now();
        await new Promise((r) => (wait > 0 ? setTimeout(r, wait) : setImmediate(r)));
        this.#batchStarted = Date.now();
        const batch = this.#reports.splice(0, reportsPerBatchMax);
        this.deps.metrics.resultBatch.observe(batch.length);
        try {
          // A batch that fails (a store error) is judged again one result at a time, so one
          // result's failure is only its own.
          const outcomes = await acceptResults(this.deps, batch.map((b) => b.report)).catch((err) => {
            if (batch.length === 1) throw err;
            return Promise.all(batch.map((b) => acceptResults(this.deps, [b.report]).then((o) => o[0]!, (e) => (b.failed(e), null))));
          });
          batch.forEach((b, k) => outcomes[k] && b.done(outcomes[k]));
          // After the verdicts are answered (a job left unassembled here is the sweeper's).
          await this.#tellDecided(outcomes.flatMap((o) => (o?.status === 'accepted' ? [o] : [])));
          for (const o of outcomes) if (o?.status === 'accepted' && o.jobComplete) this.#assemble(o.jobComplete);
        } catch (err) {
          console.error('judging a batch of results failed:', (err as Error).message);
          batch.forEach((b) => b.failed(err)); // no-ops for those already answered
        }
      }
    } finally {
      this.#judging = false;
    }
  }

  /** Jobs whose last unit was verified here, waiting for their assembly or in it. */
  #assembling = new Set<string>();
  #assemblies: Promise<void> = Promise.resolve();

  /**
   * Assembles a job beside the result batches, one job at a time. Awaited in the batch loop, a
   * job's assembly held every other job's verdicts: its result blob's durable write took 100 to
   * 800 ms here, so the bench's 1,000-unit queue (a 500-unit job done every second) stood still
   * for a fifth of its time. Assembly is idempotent (it finishes only a running job whose every
   * unit is verified), and one that fails is the sweeper's to do again.
   */
  #assemble(jobId: string) {
    if (this.#assembling.has(jobId)) return;
    this.#assembling.add(jobId);
    this.#assemblies = this.#assemblies
      .then(() => assembleJob(this.deps, jobId))
      .catch((err) => console.error(`assembling job ${jobId} failed (the sweeper tries again):`, (err as Error).message))
      .finally(() => this.#assembling.delete(jobId));
    this.#track(this.#assemblies);
  }

  async #hello(conn: Conn, msg: Extract<NodeMessage, { type: 'hello' }>) {
    if (conn.node) return this.#bad(conn, 'hello was already said on this connection.');
    const accountId = conn.principal?.accountId ?? null;
    const caps = JSON.stringify(msg.capabilities);
    const name = msg.name ?? msg.capabilities.adapter.description ?? 'node';
    const ask = Math.round((msg.ask ?? 0) * microPerCredit);
    const now = (conn.helloAt = new Date());
    let token = msg.resume?.token ?? '';
    let row = msg.resume
      ? await this.deps.db
          .updateTable('nodes')
          .set({ caps, gflops: msg.capabilities.gflops, name, ask, prefix: conn.prefix, connected_at: now, last_seen_at: now, disconnected_at: null, paused_at: null, draw: Math.random() })
          .where('id', '=', msg.resume.nodeId)
          .where('token_hash', '=', sha256Hex(msg.resume.token))
          .where((eb) => (accountId ? eb('account_id', '=', accountId) : eb('account_id', 'is', null)))
          .returning(['id', 'peer_faults'])
          .executeTakeFirst()
      : undefined;
    if (!row) {
      token = `snn_${randomSecret(24)}`;
      row = await this.deps.db
        .insertInto('nodes')
        .values({ account_id: accountId, token_hash: sha256Hex(token), name, caps, gflops: msg.capabilities.gflops, ask, prefix: conn.prefix, connected_at: now, last_seen_at: now, site_id: conn.principal?.kind === 'widget' ? conn.principal.siteId : null })
        .returning(['id', 'peer_faults'])
        .executeTakeFirstOrThrow();
    }
    if (msg.resume && row.id === msg.resume.nodeId) {
      const released = await releaseForgotten(this.deps.db, row.id, msg.holding ?? [], this.deps.config.leaseTtlMs);
      if (released) this.deps.onWork();
      // What it still holds carries on from now, as if it had heartbeaten (within the lease's life).
      await extendLeases(this.deps.db, row.id, msg.holding ?? [], this.deps.config.leaseTtlMs);
    }
    // The account it earns into, opened once here rather than by every claim round (a statement a round).
    if (accountId) await openAccount(this.deps.db, userAccount(accountId), 'user', { accountId });
    conn.node = { nodeId: row.id, holder: accountId ?? `anon:${row.id}`, gflops: msg.capabilities.gflops, prefix: conn.prefix, ask, kinds: msg.capabilities.kinds, accountOpened: !!accountId };
    conn.peerBarred = row.peer_faults >= peerFaultsMax;
    this.#byNode.set(row.id, conn);
    const peers = this.deps.config.p2p ? { peers: { path: peerPath, key: peerKey, iceServers: this.deps.config.iceServers } } : {};
    this.#send(conn, { type: 'welcome', nodeId: row.id, token, accountId, heartbeatMs: Math.floor(this.deps.config.leaseTtlMs / 3), ...peers });
  }

  /** Tells the nodes holding leases that these verdicts cancelled to drop them (here or on the coordinator they are on). */
  async #tellDecided(outcomes: Extract<Outcome, { status: 'accepted' }>[]) {
    const decided = outcomes.flatMap((o) => o.decided);
    if (decided.length) await this.#cancelDecided(decided);
    const cancelled = outcomes.flatMap((o) => o.cancelled ?? []);
    if (cancelled.length) this.deps.signals.cancel(cancelled, 'the unit was decided');
  }

  /** Tells nodes (here and on other coordinators) to drop attempts of units that were just decided without them. */
  async #cancelDecided(unitIds: string[]) {
    const open = await this.deps.db.selectFrom('attempts').select(['id', 'node_id']).where('unit_id', 'in', unitIds).where('state', '=', 'cancelled').execute();
    this.deps.signals.cancel(open.map((a) => ({ id: a.id, nodeId: a.node_id })), 'the unit was decided');
  }

  /** Tells the nodes connected here to drop these attempts. */
  #cancel(attempts: { id: string; nodeId: string | null }[], reason: string) {
    const byNode = new Map<string, string[]>();
    for (const a of attempts) if (a.nodeId) byNode.set(a.nodeId, [...(byNode.get(a.nodeId) ?? []), a.id]);
    for (const conn of this.conns) {
      for (const attemptId of (conn.node && byNode.get(conn.node.nodeId)) || []) this.#send(conn, { type: 'cancel', attemptId, reason });
    }
  }

  /** Something may be claimable now that was not: nodes that found nothing are asked again,
   * here at once and on the other coordinators of the store when their notification comes. */
  workAppeared() {
    this.#generation++;
    this.deps.signals.work();
    return this.pump();
  }

  /**
   * Fills wanted slots with leases: a round claims for every connection that wants work, in one
   * transaction, and rounds start at least `roundGapMs` apart. Resolves once a round that
   * started after this call is over: a request's `served`, which the socket's later acks wait
   * for (a result's ack never overtakes the lease asked for before it).
   */
  pump(): Promise<void> {
    if (this.#closed || this.#draining) return Promise.resolve();
    if (!this.#next) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      this.#next = { done, resolve };
    }
    const { done } = this.#next;
    this.#schedule();
    return done;
  }

  /** The round that will serve whoever asks now: resolved when it is over. */
  #next: { done: Promise<void>; resolve: () => void } | null = null;
  #timer: NodeJS.Timeout | null = null;

  #schedule() {
    if (this.#pumping || this.#timer || !this.#next || this.#closed || this.#draining) return;
    const wait = this.#roundEnded + roundGapMs - Date.now();
    if (wait > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#schedule();
      }, wait);
      return;
    }
    const round = this.#next;
    this.#next = null;
    this.#pumping = true;
    this.#track(
      this.#round().finally(() => {
        this.#pumping = false;
        this.#roundEnded = Date.now();
        round.resolve();
        this.#schedule();
      }),
    );
  }

  /**
   * A node says a peer its lease named for `sha` did not have it (`none`: named no more for it)
   * or served bytes that do not hash to it (`bad-bytes`: that too, and a strike from the
   * reporter's account; see peerFaultsMax). Only a report about a peer this coordinator holds
   * as a holder of that blob counts: no one can smear nodes it was never sent to.
   */
  async #peerReport(conn: Conn, msg: Extract<NodeMessage, { type: 'peer-report' }>) {
    const peer = this.#byNode.get(msg.nodeId);
    if (!peer?.node || peer === conn || !this.holders.holds(peer, msg.sha)) return;
    this.holders.drop(peer, [msg.sha]);
    this.deps.metrics.peerReports.inc({ reason: msg.reason });
    if (msg.reason !== 'bad-bytes' || !conn.principal?.accountId || conn.principal.accountId === peer.principal?.accountId) return;
    const reporters = this.#peerReports.get(msg.nodeId) ?? new Set<string>();
    this.#peerReports.set(msg.nodeId, reporters);
    if (reporters.has(conn.principal.accountId)) return;
    reporters.add(conn.principal.accountId);
    await this.deps.db.updateTable('nodes').set((eb) => ({ peer_faults: eb('peer_faults', '+', 1) })).where('id', '=', msg.nodeId).execute();
    if (reporters.size >= peerFaultsMax) {
      peer.peerBarred = true;
      this.holders.forget(peer);
    }
  }

  /** For each input other connected nodes hold, up to `peersPerBlob` of them (none with SUPERNET_P2P=0). */
  #peersFor(conn: Conn, inputs: string[]): { peers?: Record<string, string[]> } {
    if (!this.deps.config.p2p) return {};
    const peers: Record<string, string[]> = {};
    for (const sha of inputs) {
      const ids = this.holders.pick(sha, conn, peersPerBlob, (h) => h.node !== null && !h.peerBarred && h.ws.readyState === h.ws.OPEN).map((h) => h.node!.nodeId);
      if (ids.length) peers[sha] = ids;
    }
    return Object.keys(peers).length ? { peers } : {};
  }

  /**
   * The lease's small inputs whose bytes are in memory here, each sent once to a connection
   * (`inlined`, bounded: past it the set starts again, and a node that dropped one fetches it).
   * Not to a node known to hold it.
   */
  #inlineFor(conn: Conn, inputs: string[]): { inline?: Record<string, string> } {
    const inline: Record<string, string> = {};
    for (const sha of inputs) {
      if (conn.inlined?.has(sha) || this.holders.holds(conn, sha)) continue;
      const bytes = this.deps.blobs.peek(sha);
      if (!bytes || bytes.byteLength > inlineInputBytesMax) continue;
      conn.inlined ??= new Set();
      if (conn.inlined.size >= inlinedPerConnMax) conn.inlined.clear();
      conn.inlined.add(sha);
      inline[sha] = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
    }
    return Object.keys(inline).length ? { inline } : {};
  }

  async #round() {
    try {
      const ready = [...this.conns].filter((c) => c.node && c.wanted > 0 && !c.full && c.dryAt !== this.#generation && c.ws.readyState === c.ws.OPEN);
      let leased = false;
      if (ready.length) {
        const generation = this.#generation;
        const started = performance.now();
        this.deps.metrics.claimRound.observe(ready.length);
        const claimed = await claimUnits(this.deps.db, ready.map((c) => c.node!), ready.map((c) => c.wanted), this.deps.config.leaseTtlMs);
        const seconds = (performance.now() - started) / 1000;
        claimed.forEach((got, k) => {
          const conn = ready[k]!;
          for (const lease of got.leases) {
            conn.wanted--;
            this.deps.metrics.leaseSeconds.observe({ outcome: 'leased' }, seconds);
            this.#send(conn, { type: 'lease', attemptId: lease.attemptId, token: lease.token, deadline: lease.deadline.getTime(), unit: lease.unit, ...this.#peersFor(conn, lease.unit.inputs), ...this.#inlineFor(conn, lease.unit.inputs) });
            // A node that serves peers holds its lease's inputs from now on, or is fetching them and
            // serves them once they are in (server/agent/runtime.ts, cached): named to the next node
            // at once, instead of only after its download — nodes that start together on one row
            // would otherwise all fetch its panel from here (14 MiB of egress for 12 MiB of panels,
            // three tabs, tests/e2e/p2p-egress.test.ts).
            if (conn.serving && !conn.peerBarred) this.holders.add(conn, lease.unit.inputs);
          }
          if (got.leases.length) leased = true;
          else if (got.stop) this.deps.metrics.leaseSeconds.observe({ outcome: got.stop === 'dry' ? 'none' : got.stop }, seconds);
          if (got.stop === 'full') conn.full = true;
          if (got.stop === 'dry') conn.dryAt = generation;
          if (got.stop === 'quarantined') {
            conn.wanted = 0;
            this.#send(conn, { type: 'error', code: 'quarantined', message: 'This account is quarantined after repeated wrong results: it gets no more work.' });
          }
        });
      }
      this.#quietUntil = leased ? 0 : Date.now() + quietMs;
    } catch (err) {
      console.error('lease pump failed:', (err as Error).message);
    }
  }

  async sweep() {
    if (this.#closed) return;
    try {
      for (const conn of this.conns) conn.full = false;
      if (Date.now() - this.#recheckedAt >= dryRecheckMs) {
        this.#recheckedAt = Date.now();
        this.#generation++;
      }
      // A coordinator that just started gives nodes one lease time to come back before their
      // leases lapse: its own downtime is not their fault. (The chaos run's restarts lapsed
      // ~50 honest leases each: nodes back off up to seconds before reconnecting, and the
      // first sweep found their deadlines passed.) Units whose deal lapsed are drawn again meanwhile.
      // The rest is the store's, not this process's: one coordinator of the store does it.
      if (!(await takeTurn(this.deps.db, 'sweep', this.deps.signals.from, 3 * this.deps.config.sweepMs) /* another takes over after ~3 missed */)) return;
      if ((await expireLeases(this.deps.db, this.deps.config.leaseTtlMs, Date.now() >= this.#expiresFrom)) > 0) void this.workAppeared();
      await rewindClaims(this.deps.db);
      const stalled = await decideStalled(this.deps);
      await this.#tellDecided(stalled);
      if (stalled.some((o) => o.newWork)) void this.workAppeared();
      await sweepJobs(this.deps);
    } catch (err) {
      console.error('sweeper failed:', (err as Error).message);
    }
  }

  #draining = false;

  /**
   * Shutdown's first step: leases nothing more, but keeps the sockets open so that the results
   * of leases in hand still arrive, until none is in hand or `graceMs` has passed. Returns how
   * many were still out (they lapse at their deadline, or come back with a node's resume).
   */
  async drain(graceMs: number): Promise<number> {
    this.#draining = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#next?.resolve(); // whoever waits for a round gets none now
    this.#next = null;
    const end = Date.now() + graceMs;
    for (;;) {
      const nodes = [...this.conns].flatMap((c) => (c.node ? [c.node.nodeId] : []));
      const out = nodes.length
        ? Number((await this.deps.db.selectFrom('attempts').select((eb) => eb.fn.countAll<number>().as('n')).where('node_id', 'in', nodes).where('state', '=', 'leased').executeTakeFirstOrThrow()).n)
        : 0;
      if (!out || Date.now() >= end) return out;
      await new Promise((resolve) => setTimeout(resolve, 200)); // a shutdown's pace, not a test's
    }
  }

  /** Stops taking frames, lets those in hand finish (the store is still open), then drops every socket. */
  async close() {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    if (this.#timer) clearTimeout(this.#timer);
    this.#next?.resolve(); // no round will run for it now
    await Promise.all([...[...this.conns].map((conn) => conn.busy), ...this.#running]);
    await this.#writeSeen();
    for (const conn of this.conns) conn.ws.terminate();
    this.wss.close();
  }
}
