import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { startCoordinator, type Coordinator } from '../../server/coordinator.ts';
import { inject } from 'vitest';
import { freshPostgresUrl, type StoreKind } from './stores.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');
export const cliPath = join(repoRoot, 'bin/supernet.mjs');

export interface StoreEnv {
  SUPERNET_DATA: string;
  DATABASE_URL?: string;
}

/**
 * A fresh data directory, and a fresh PostgreSQL database when the store is postgres. The
 * PGlite store in it is a copy of the one tests/global-setup.ts migrated (5 s saved per store).
 */
export async function storeEnv(store: StoreKind): Promise<StoreEnv> {
  const env: StoreEnv = { SUPERNET_DATA: mkdtempSync(join(tmpdir(), 'supernet-test-')) };
  if (store === 'postgres') env.DATABASE_URL = await freshPostgresUrl();
  else cpSync(inject('pgliteTemplate'), join(env.SUPERNET_DATA, 'pglite'), { recursive: true });
  return env;
}

/** A real coordinator in this process, on a free port. */
export async function testCoordinator(store: StoreKind, env: Record<string, string> = {}): Promise<Coordinator> {
  const base = await storeEnv(store);
  return startCoordinator(loadConfig({ PORT: '0', SUPERNET_SHUTDOWN_GRACE_MS: '0', SUPERNET_ICE_SERVERS: '', ...base, ...env }));
}

/** A child process running `supernet <args>`, with its output kept for failure messages. */
/** Each CLI run gets a configuration directory of its own (no key saved by another test's signup), unless the test gives one. */
const freshConfig = () => ({ XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'supernet-config-')) });

export function spawnCli(args: string[], env: Record<string, string | undefined> = {}): ChildProcess & { output: string[] } {
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...freshConfig(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { output: string[] };
  child.output = [];
  child.stdout!.on('data', (d) => child.output.push(String(d)));
  child.stderr!.on('data', (d) => child.output.push(String(d)));
  return child;
}

/** Resolves when the child prints a line matching `pattern`. */
export function waitForOutput(child: ChildProcess & { output: string[] }, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${child.output.join('')}`)), timeoutMs);
    const check = () => {
      const match = child.output.join('').match(pattern);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        child.stderr!.off('data', check);
        resolve(match);
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    check();
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${pattern}; output:\n${child.output.join('')}`));
    });
  });
}

/** Stops a child as an operator would (an agent finishes the unit in hand first); killed after `graceMs`. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Polls `check` until it returns a truthy value. */
export async function eventually<T>(check: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A TCP port free right now on 127.0.0.1, for a coordinator that must come back on it. */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** Runs `supernet <args>` to its end: its exit code and everything it printed. */
export async function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; output: string }> {
  const child = spawnCli(args, env);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output: child.output.join('') };
}
