import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';

/**
 * PGlite is one process's database: a second process opening the same directory would corrupt
 * it. The coordinator holds `coordinator.pid` in the data directory while it runs on the
 * embedded store; admin commands (mint, verify-ledger, export-ledger) and a second coordinator
 * refuse while a live process holds it. A stale file (its process gone) is taken over.
 */
const lockFile = 'coordinator.pid';

function holder(dataDir: string): number | null {
  const path = join(dataDir, lockFile);
  if (!existsSync(path)) return null;
  const pid = Number(readFileSync(path, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

export function assertStoreFree(dataDir: string, doing: string) {
  const pid = holder(dataDir);
  if (pid !== null && pid !== process.pid) {
    throw new ConfigError(`A coordinator (pid ${pid}) has the embedded store in ${dataDir} open: stop it before you ${doing}, or run both on PostgreSQL (DATABASE_URL).`);
  }
}

/** Takes the data directory for this process; returns the release. */
export function lockStore(dataDir: string): () => void {
  assertStoreFree(dataDir, 'start another coordinator on it');
  const path = join(dataDir, lockFile);
  writeFileSync(path, String(process.pid));
  return () => {
    if (holder(dataDir) === process.pid) rmSync(path, { force: true });
  };
}
