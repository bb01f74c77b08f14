import { isIP } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from './errors.ts';

/** Everything a coordinator can be told from its environment. README lists each variable. */
export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | null;
  blobBytesMax: number;
  leaseTtlMs: number;
  /** Origins besides the coordinator's own that may make cookie-authenticated writes. */
  allowedOrigins: string[];
  /** µcr minted to each new account (SUPERNET_STARTER_GRANT, in credits). */
  starterGrant: number;
  /** How often leases that ran out are lapsed and stalled units, jobs and idle nodes looked at again (SUPERNET_SWEEP_MS; one coordinator of a store sweeps). */
  sweepMs: number;
  /** How often the market price is recomputed. */
  marketMs: number;
  /** How often the ledger's tip is signed, when it moved. */
  checkpointMs: number;
  /** PGlite only: how often the store looks for tables due a VACUUM or an ANALYZE, by autovacuum's rule (it has no autovacuum: PGlitePool.maintain). */
  maintenanceMs: number;
  /** Whether leases name peers that hold their inputs (SUPERNET_P2P=0 turns it off). */
  p2p: boolean;
  /** STUN/TURN servers nodes use to reach each other (SUPERNET_ICE_SERVERS, comma-separated URLs; empty: host candidates only, which serves one LAN). */
  iceServers: string[];
  /** On shutdown, how long results of leases in hand are still taken before the sockets close (SUPERNET_SHUTDOWN_GRACE_MS). */
  shutdownGraceMs: number;
  /** How often due webhooks are sent (SUPERNET_WEBHOOK_MS); a failed one waits webhookRetryMs × 6ⁿ. */
  webhookMs: number;
  webhookRetryMs: number;
  /** Whether webhooks may go to loopback and private addresses (SUPERNET_WEBHOOKS_TO_PRIVATE=1). */
  webhooksToPrivate: boolean;
  /** The built pages the coordinator serves (SUPERNET_WEB_DIR; `vite build` writes dist/web). */
  webDir: string;
  /** Proxies and load balancers whose X-Forwarded-For is believed (SUPERNET_TRUSTED_PROXIES). */
  trustedProxies: string[];
  /** Blobs in an S3-compatible bucket instead of the data directory (SUPERNET_S3_BUCKET set). */
  s3: S3Config | null;
}

export interface S3Config {
  bucket: string;
  /** Key prefix, ending in `/` (SUPERNET_S3_PREFIX, default `blobs/`). */
  prefix: string;
  region: string;
  /** An S3-compatible server's URL (MinIO, R2, s3rver); unset for AWS itself. Path-style addressing when set. */
  endpoint: string | null;
  /** AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY when both are set; otherwise the SDK looks (a profile, a role). */
  credentials: { accessKeyId: string; secretAccessKey: string } | null;
}

function trustedProxies(env: NodeJS.ProcessEnv): string[] {
  const list = (env.SUPERNET_TRUSTED_PROXIES ?? '').split(',').map((a) => a.trim()).filter(Boolean);
  for (const address of list) {
    if (!isIP(address)) throw new ConfigError(`SUPERNET_TRUSTED_PROXIES has "${address}": give the proxies' IP addresses, comma-separated.`);
  }
  return list;
}

function s3Config(env: NodeJS.ProcessEnv): S3Config | null {
  const bucket = env.SUPERNET_S3_BUCKET?.trim();
  if (!bucket) return null;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ConfigError(`SUPERNET_S3_BUCKET=${bucket} is not a bucket name: 3-63 lowercase letters, digits, dots and hyphens.`);
  }
  const endpoint = env.SUPERNET_S3_ENDPOINT?.trim() || null;
  if (endpoint && !/^https?:\/\/[^/]+\/?$/.test(endpoint)) {
    throw new ConfigError(`SUPERNET_S3_ENDPOINT=${endpoint} must be a URL like http://127.0.0.1:9000, with no path.`);
  }
  const prefix = env.SUPERNET_S3_PREFIX?.trim() ?? 'blobs/';
  const [accessKeyId, secretAccessKey] = [env.AWS_ACCESS_KEY_ID?.trim(), env.AWS_SECRET_ACCESS_KEY?.trim()];
  return {
    bucket,
    prefix: prefix && !prefix.endsWith('/') ? `${prefix}/` : prefix,
    region: env.SUPERNET_S3_REGION?.trim() || env.AWS_REGION || 'us-east-1',
    endpoint,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : null,
  };
}

const mib = 1024 * 1024;

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}=${raw} is not valid: set it to a whole number from ${min} to ${max}, or unset it for ${fallback}.`);
  }
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const databaseUrl = env.DATABASE_URL?.trim() || null;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(
      `DATABASE_URL must start with postgres:// or postgresql:// (got "${databaseUrl.slice(0, 40)}"); unset it to use the embedded PGlite store in SUPERNET_DATA.`,
    );
  }
  const origins = (env.SUPERNET_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of origins) {
    if (!/^https?:\/\/[^/]+$/.test(origin)) {
      throw new ConfigError(`SUPERNET_ORIGINS has "${origin}": give origins like https://example.com, comma-separated, with no path.`);
    }
  }
  return {
    port: int(env, 'PORT', 8787, 0, 65535),
    host: env.HOST?.trim() || '127.0.0.1',
    dataDir: resolve(env.SUPERNET_DATA?.trim() || './data'),
    databaseUrl,
    blobBytesMax: int(env, 'SUPERNET_BLOB_MAX_BYTES', 256 * mib, 1024, 16 * 1024 * mib),
    leaseTtlMs: int(env, 'SUPERNET_LEASE_TTL_MS', 30_000, 500, 3_600_000),
    allowedOrigins: origins,
    starterGrant: int(env, 'SUPERNET_STARTER_GRANT', 100_000, 0, 1_000_000_000) * 1_000_000,
    sweepMs: int(env, 'SUPERNET_SWEEP_MS', 1_000, 100, 3_600_000),
    marketMs: int(env, 'SUPERNET_MARKET_MS', 10_000, 100, 3_600_000),
    checkpointMs: int(env, 'SUPERNET_CHECKPOINT_MS', 60_000, 100, 86_400_000),
    maintenanceMs: int(env, 'SUPERNET_MAINTENANCE_MS', 5_000, 100, 86_400_000),
    p2p: env.SUPERNET_P2P !== '0' && env.SUPERNET_P2P !== 'false',
    iceServers: (env.SUPERNET_ICE_SERVERS ?? 'stun:stun.l.google.com:19302').split(',').map((u) => u.trim()).filter(Boolean),
    shutdownGraceMs: int(env, 'SUPERNET_SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    webhookMs: int(env, 'SUPERNET_WEBHOOK_MS', 1_000, 50, 3_600_000),
    webhookRetryMs: int(env, 'SUPERNET_WEBHOOK_RETRY_MS', 10_000, 10, 3_600_000),
    webhooksToPrivate: env.SUPERNET_WEBHOOKS_TO_PRIVATE === '1' || env.SUPERNET_WEBHOOKS_TO_PRIVATE === 'true',
    webDir: resolve(env.SUPERNET_WEB_DIR?.trim() || resolve(packageRoot(), 'dist/web')),
    s3: s3Config(env),
    trustedProxies: trustedProxies(env),
  };
}

/** The directory of this package's package.json: the repository, or node_modules/supernet once installed (the code is then in dist/pkg). */
function packageRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
