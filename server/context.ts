import type { CheckPool } from './verify/check-pool.ts';
import type { Context } from 'hono';
import type { Config } from './config.ts';
import type { Db } from './db/index.ts';
import type { BlobStore } from './blobs/store.ts';
import type { Metrics } from './stats/metrics.ts';
import type { Signals } from './nodes/signals.ts';
import { forbidden, unauthorized } from './errors.ts';

/** Who is calling: a signed-in person (cookie), a program (API key), a node (its token), or a widget. */
export type Principal =
  | { kind: 'account'; accountId: string; via: 'cookie' | 'key' }
  | { kind: 'node'; nodeId: string; accountId: string | null }
  /** The widget's iframe (its `snw_` token): its nodes earn for the site's owner; nothing else. */
  | { kind: 'widget'; siteId: string; accountId: string };

/** What every feature is built from; `server/app.ts` makes one and hands it round. */
export interface Deps {
  db: Db;
  config: Config;
  blobs: BlobStore;
  /** Wakes the lease pump when new work appears (set once the node hub exists). */
  onWork: () => void;
  /** This process's Prometheus registry (`/metrics`). */
  metrics: Metrics;
  /** What coordinators on one store tell each other (new work, cancelled attempts). */
  signals: Signals;
  /** Where results are checked against their inputs (off the event loop where the check is costly). */
  checks: CheckPool;
  /** Set when shutdown begins: readiness says 503 so a load balancer sends no more requests. */
  lifecycle: { draining: boolean };
}

export type AppEnv = { Variables: { principal: Principal | null; ip: string } };
export type Ctx = Context<AppEnv>;

/** The calling account, or 401. Nodes act for their account only where a route says so. */
export function requireAccount(c: Ctx): string {
  const p = c.get('principal');
  if (!p || p.kind !== 'account') throw unauthorized();
  return p.accountId;
}

/** Throws 403 unless the row belongs to the caller. */
export function requireOwner(c: Ctx, ownerId: string, what: string) {
  if (ownerId !== requireAccount(c)) throw forbidden(`This ${what} belongs to another account.`);
}
