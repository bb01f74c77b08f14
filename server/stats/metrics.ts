import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { onlineNodes } from './routes.ts';

/**
 * What `/metrics` serves (Prometheus text, from prom-client): this process's own timings and
 * counts, and the store's figures read at each scrape (so every coordinator process agrees on
 * them). One registry per coordinator, not prom-client's global one: tests run several in one
 * process.
 */
export class Metrics {
  readonly registry = new Registry();
  /** A claim: from the pump's ask to a lease, 'full' or nothing. */
  readonly leaseSeconds = this.#timings('supernet_lease_seconds', 'Time to claim a unit for a node (one claim transaction), by outcome.', 'outcome');
  /** A result: from its frame to its verdict (checks, the unit's replicas compared, pays settled). */
  readonly resultSeconds = this.#timings('supernet_verification_seconds', 'Time to judge a result frame, by status (accepted or refused).', 'status');
  /** Group commit: how many nodes one claim round served, how many results one transaction judged. */
  readonly claimRound = this.#sizes('supernet_claim_round_nodes', 'Nodes served by one claim round (one transaction).');
  readonly resultBatch = this.#sizes('supernet_result_batch_results', 'Results judged in one transaction.');
  /** Blob bytes this coordinator served over HTTP: what peer-to-peer sharing saves (#18). */
  readonly blobEgress = new Counter({ name: 'supernet_blob_egress_bytes_total', help: 'Blob bytes this process served over HTTP (GET /api/blobs).', registers: [this.registry] });
  readonly peerReports = new Counter({ name: 'supernet_peer_reports_total', help: 'Reports from nodes that a peer named in a lease lacked the blob (none) or served bad bytes.', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly verifiedUnits = new Counter({ name: 'supernet_verified_units_total', help: 'Units this process verified.', registers: [this.registry] });
  readonly results = new Counter({ name: 'supernet_results_total', help: 'Result frames this process judged, by status.', labelNames: ['status'] as const, registers: [this.registry] });

  #sizes(name: string, help: string) {
    return new Histogram({ name, help, buckets: [1, 2, 4, 8, 16, 32, 64], registers: [this.registry] });
  }

  #timings<L extends string>(name: string, help: string, label: L) {
    return new Histogram({ name, help, labelNames: [label], buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2], registers: [this.registry] });
  }

  constructor(db: Db, sockets: () => number, leaseTtlMs: number) {
    // The process's own: memory, heap, event-loop lag, GC pauses, open handles.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'supernet_node_sockets', help: 'Node WebSockets open on this process.', registers: [this.registry], collect() { this.set(sockets()); } });
    const fromStore = <T>(name: string, help: string, labelNames: string[], read: (g: Gauge) => Promise<T>) =>
      new Gauge({ name, help, labelNames, registers: [this.registry], async collect() { this.reset(); await read(this); } });
    fromStore('supernet_nodes_online', 'Nodes connected and heard from recently.', [], async (g) => g.set((await onlineNodes(db, leaseTtlMs)).online));
    fromStore('supernet_gflops', 'Calibrated GFLOP/s of the nodes online.', [], async (g) => g.set((await onlineNodes(db, leaseTtlMs)).gflops));
    // Queue depth by open job, from the job's own counters (a count of its pending units read
    // the whole queue at every scrape), and leases in flight.
    fromStore('supernet_queue_units', 'Pending units of each open job.', ['job'], async (g) => {
      const rows = await db.selectFrom('jobs').select(['id', 'units_total', 'units_verified']).where('state', 'in', ['queued', 'running']).whereRef('units_verified', '<', 'units_total').execute();
      for (const r of rows) g.set({ job: r.id }, r.units_total - r.units_verified);
    });
    fromStore('supernet_leases', 'Leases in flight.', [], async (g) => {
      const row = await db.selectFrom('attempts').select(sql<number>`count(*)::int`.as('n')).where('state', '=', 'leased').executeTakeFirstOrThrow();
      g.set(row.n);
    });
    fromStore('supernet_jobs', 'Jobs by state.', ['state'], async (g) => {
      const rows = await db.selectFrom('jobs').select(['state', sql<number>`count(*)::int`.as('n')]).groupBy('state').execute();
      for (const r of rows) g.set({ state: r.state }, r.n);
    });
    fromStore('supernet_ledger_transfers', 'Transfers in the ledger (its hash chain\'s length): postings, reservations and their resolutions.', [], async (g) => {
      const row = await db.selectFrom('ledger_head').select('seq').executeTakeFirst();
      g.set(Number(row?.seq ?? 0));
    });
  }
}
