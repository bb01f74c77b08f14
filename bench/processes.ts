import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '..');

/** A coordinator process: `supernet serve` on a free port. BENCH_COORD_NODE_ARGS: node flags
 * for it (e.g. --cpu-prof); BENCH_COORD_LOG=1: its stderr passed through. */
export async function serve(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...(process.env.BENCH_COORD_NODE_ARGS ?? '').split(' ').filter(Boolean), join(repoRoot, 'bin/supernet.mjs'), 'serve'], { cwd: repoRoot, env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the coordinator did not start: ${output}`)), 60_000);
    const look = (d: Buffer) => {
      output += String(d);
      const m = /Supernet coordinator on (\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    if (process.env.BENCH_COORD_LOG) child.stderr!.on('data', (d) => process.stderr.write(d));
    child.once('exit', (code) => reject(new Error(`the coordinator exited (${code}): ${output}`)));
  });
  return { child, url };
}

/** CPU seconds (user + system) and resident MiB of a process, from /proc. */
export function usage(pid: number): { cpu: number; rssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return { cpu: ticks / 100, rssMiB: Number(rss ?? 0) / 1024 };
}

/** A Dawn agent process, once it has calibrated and connected. */
export async function agent(url: string, key: string, name: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/supernet.mjs'), 'agent', '--url', url, '--key', key, '--name', name], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`agent ${name} did not connect: ${output}`)), 180_000);
    const look = (d: Buffer) => {
      output += String(d);
      if (/connected as node/.test(output)) {
        clearTimeout(timer);
        done();
      }
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
    child.once('exit', (code) => fail(new Error(`agent ${name} exited (${code}): ${output}`)));
  });
  return child;
}

/** Stops these processes (SIGTERM) and resolves once every one has exited, so that their files can be removed. */
export async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((child) => (child.exitCode !== null || child.signalCode !== null ? undefined : new Promise<void>((done) => {
    child.once('exit', () => done());
    child.kill('SIGTERM');
  }))));
}
