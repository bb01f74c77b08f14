import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A PostgreSQL server for the bench: BENCH_DATABASE_URL (an admin URL; a database is made per
 * measurement), else a throwaway cluster of our own on a private port, as .ci/run starts one,
 * else null (the bench says the PostgreSQL section was skipped and why).
 */
export async function benchPostgres(): Promise<{ admin: string; stop: () => void } | { skipped: string }> {
  if (process.env.BENCH_DATABASE_URL) return { admin: process.env.BENCH_DATABASE_URL, stop: () => {} };
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b)) : [];
  const bin = versions.length ? `/usr/lib/postgresql/${versions.at(-1)}/bin` : null;
  if (!bin || !existsSync(`${bin}/initdb`)) return { skipped: 'no PostgreSQL server: set BENCH_DATABASE_URL, or install postgresql' };
  const dir = mkdtempSync(join(tmpdir(), 'supernet-bench-pg-'));
  // initdb refuses to run as root: the cluster then belongs to the postgres user.
  const root = process.getuid?.() === 0;
  const as = (cmd: string, args: string[]) => (root ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'ignore' }) : execFileSync(cmd, args, { stdio: 'ignore' }));
  if (root) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), 0);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  as(`${bin}/initdb`, ['-D', `${dir}/data`, '-A', 'trust', '-U', 'postgres']);
  as(`${bin}/pg_ctl`, ['-D', `${dir}/data`, '-l', `${dir}/log`, '-w', 'start', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off`]);
  return {
    admin: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => {
      try {
        as(`${bin}/pg_ctl`, ['-D', `${dir}/data`, '-m', 'immediate', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
