import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Supernet, SupernetError, type Job } from './api/client.ts';
import { creditMeaning, formatCredits } from './ledger/format.ts';
import { clis } from '../workloads/cli.ts';

/**
 * The developer's commands: `supernet signup|login|submit|jobs|status|wait|download|cancel|keys|balance|webhook-secret|transfer`,
 * all through the typed client. Exit codes scripts can rely on (`exitCodes`), and on any
 * failure one line on stderr: `supernet: <reason>`.
 */
export const exitCodes = { ok: 0, refused: 1, usage: 2, jobNotDone: 3, unreachable: 4 } as const;

export class CliError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}

export const devHelp = `Developer commands (each takes --url URL or SUPERNET_URL, default http://localhost:8787,
and --key KEY or SUPERNET_KEY, an API key; after signup or login, the key they saved):
  supernet signup --email E [--password P]  make an account (password also from SUPERNET_PASSWORD or
  supernet login --email E [--password P]   standard input), and a key for this machine, saved for
                                            the commands after it
  supernet submit KIND [--spec JSON|@FILE] [KIND's options] [--bid CREDITS] [--verification check|replicate]
                  [--name NAME] [--tag TAG …] [--webhook URL] [--wait] [--out FILE]
                                            submit a job; prints its id; --wait follows it with a
                                            progress bar (and says why it waits, when it does),
                                            --out saves the result, --webhook is POSTed the job
                                            when it ends (signed: see webhook-secret). KIND's options:
${Object.values(clis).map((c) => Object.entries(c.options).map(([name, o]) => `    ${c.kind} --${name}${o.type === 'string' ? ' …' : ''}${o.multiple ? ' (again for more)' : ''}`.padEnd(44) + o.help).join('\n')).join('\n')}
  supernet jobs [--state S[,S…]] [--tag T]  your jobs, newest first (100): id, kind, state, units
                                            verified, credits paid, name; S: queued running done
                                            failed cancelled
  supernet status ID                        the job's state, progress and cost (JSON)
  supernet wait ID [--out FILE]             follow a job to its end, with a progress bar
  supernet download ID --out FILE           save a done job's result
  supernet cancel ID                        cancel a job; the unspent escrow returns
  supernet keys [create NAME | revoke ID]   list, create or revoke API keys
  supernet balance                          your wallet in credits
  supernet webhook-secret                   the secret that signs your jobs' webhooks
  supernet transfer --to EMAIL|ID --amount CREDITS [--idempotency-key K] [--memo TEXT]

Exit codes: 0 done · 1 the coordinator refused (the reason follows) · 2 bad usage or a bad file ·
3 the job ended failed or cancelled · 4 the coordinator cannot be reached.`;

const common = { url: { type: 'string' }, key: { type: 'string' } } as const;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...common, ...options }, allowPositionals: true });
  } catch (err) {
    throw new CliError(`${(err as Error).message.split('\n')[0]} (supernet --help lists the options)`, exitCodes.usage);
  }
}

/**
 * Where `supernet signup` and `supernet login` keep the key they make, for the commands after
 * them: $XDG_CONFIG_HOME/supernet/config.json (else ~/.config/…), readable by its owner alone.
 */
export function configPath(): string {
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'supernet', 'config.json');
}

export function savedCredentials(): { url: string; key: string; email: string } | null {
  try {
    const saved = JSON.parse(readFileSync(configPath(), 'utf8'));
    return typeof saved.url === 'string' && typeof saved.key === 'string' ? saved : null;
  } catch {
    return null;
  }
}

/** The coordinator and key a command uses: --url/--key, else SUPERNET_URL/SUPERNET_KEY, else what signup or login saved. */
export function credentials(values: { url?: string; key?: string }): { url: string; key: string | undefined } {
  const saved = savedCredentials();
  const url = (values.url ?? process.env.SUPERNET_URL ?? saved?.url ?? 'http://localhost:8787').replace(/\/$/, '');
  const key = values.key ?? process.env.SUPERNET_KEY ?? (saved && saved.url === url ? saved.key : undefined);
  return { url, key };
}

function client(values: { url?: string; key?: string }): Supernet {
  const { url, key } = credentials(values);
  if (!key) throw new CliError('no API key: run "supernet signup --email you@example.com" (or "supernet login"), pass --key sn_…, or set SUPERNET_KEY.', exitCodes.usage);
  return new Supernet({ url, key });
}

/** Signs up or in over HTTP (the session cookie), makes a key for this machine and saves it. */
async function account(args: string[], how: 'signup' | 'login'): Promise<number> {
  const { values } = parse(args, { email: { type: 'string' }, password: { type: 'string' } });
  const email = values.email;
  if (!email) throw new CliError(`${how} needs --email (and --password, SUPERNET_PASSWORD, or the password on standard input).`, exitCodes.usage);
  const password = values.password ?? process.env.SUPERNET_PASSWORD ?? (process.stdin.isTTY ? undefined : readFileSync(0, 'utf8').split('\n')[0]);
  if (!password) throw new CliError(`${how} needs a password: --password, SUPERNET_PASSWORD, or on standard input (echo … | supernet ${how} …).`, exitCodes.usage);
  const url = (values.url ?? process.env.SUPERNET_URL ?? 'http://localhost:8787').replace(/\/$/, '');
  const post = async (path: string, body: unknown, cookie?: string) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', origin: url, ...(cookie ? { cookie } : {}) }, body: JSON.stringify(body) });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) throw new SupernetError(res.status, json.error?.code ?? 'http', json.error?.message ?? `HTTP ${res.status}`);
    return { res, json };
  };
  const { res } = await post(`/api/auth/${how}`, { email, password });
  const cookie = res.headers.get('set-cookie')?.split(';')[0];
  const { json } = await post('/api/keys', { name: `cli on ${hostname()}` }, cookie);
  const path = configPath();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, JSON.stringify({ url, key: json.secret, email }, null, 2) + '\n', { mode: 0o600 });
  const wallet = await new Supernet({ url, key: json.secret }).me();
  console.log(`${how === 'signup' ? 'Signed up' : 'Signed in'} as ${email} on ${url}, ${formatCredits(wallet.wallet.available)} credits to spend. ${creditMeaning}`);
  console.log(`A key for this machine is saved in ${path}: supernet commands use it from now on (for other tools: export SUPERNET_KEY=${json.secret}).`);
  console.log(`Next: npx supernet submit render --scene cornell --width 256 --height 256 --spp 16 --wait --out image.png`);
  console.log(`Lend this machine's GPU and earn credits: npx supernet agent`);
  return exitCodes.ok;
}

function readFile(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = ({ ENOENT: 'there is no such file', EACCES: 'permission denied', EISDIR: 'it is a directory, not a file' } as Record<string, string>)[code ?? ''] ?? (err as Error).message;
    throw new CliError(`cannot read ${what} ${path}: ${why}.`, exitCodes.usage);
  }
}

/** `\r[#####-----] 12/64 units · 0.0123 credits`, redrawn on a terminal; a line per change elsewhere. */
function progressBar(stream: NodeJS.WriteStream) {
  let last = '';
  let waiting = '';
  return {
    update(job: Job) {
      const { units, verified } = job.progress;
      const width = 30;
      const filled = units ? Math.round((verified / units) * width) : 0;
      const a = job.activity;
      const pace = a && !a.waiting && a.nodesWorking ? ` · ${a.nodesWorking} node${a.nodesWorking === 1 ? '' : 's'}${a.etaSeconds !== null ? ` · ~${Math.ceil(a.etaSeconds / 60)} min left` : ''}` : '';
      const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${verified}/${units} units · ${job.state} · ${formatCredits(job.cost.credits)} credits${pace}`;
      // Why nothing moves, once each time the reason changes, on a line of its own.
      if (a?.waiting && a.waiting !== waiting) stream.write(`${stream.isTTY && last ? '\n' : ''}waiting: ${a.waiting}\n`);
      waiting = a?.waiting ?? '';
      if (line === last) return;
      last = line;
      stream.write(stream.isTTY ? `\r${line}` : `${line}\n`);
    },
    end() {
      if (stream.isTTY && last) stream.write('\n');
    },
  };
}

async function follow(api: Supernet, id: string, out?: string): Promise<number> {
  const bar = progressBar(process.stderr);
  const job = await api.waitForJob(id, { onProgress: (j) => bar.update(j) });
  bar.end();
  if (job.state !== 'done') throw new CliError(`job ${id} ended ${job.state}${job.error ? `: ${job.error}` : ''}`, exitCodes.jobNotDone);
  if (out) await download(api, id, out);
  return exitCodes.ok;
}

async function download(api: Supernet, id: string, out: string) {
  const bytes = await api.jobResult(id);
  writeFileSync(out, bytes);
  console.error(`Saved the result (${bytes.byteLength} bytes) to ${out}.`);
}

const needId = (positionals: string[], command: string) => {
  const id = positionals[0];
  if (!id) throw new CliError(`${command} needs a job id: supernet ${command} ID`, exitCodes.usage);
  return id;
};

export const devCommands: Record<string, (args: string[]) => Promise<number>> = {
  signup: (args) => account(args, 'signup'),
  login: (args) => account(args, 'login'),
  async submit(args) {
    // The kind first: its own options (workloads/<kind>/cli.ts) join the common ones.
    const kind = args[0]?.startsWith('-') ? undefined : args[0];
    if (!kind) throw new CliError(`submit needs a workload kind: supernet submit ${Object.keys(clis).join('|')} … (supernet --help lists their options)`, exitCodes.usage);
    const own = clis[kind];
    const { values, positionals } = parse(args, {
      spec: { type: 'string' },
      bid: { type: 'string' },
      verification: { type: 'string' },
      name: { type: 'string' },
      tag: { type: 'string', multiple: true },
      webhook: { type: 'string' },
      wait: { type: 'boolean' },
      out: { type: 'string' },
      ...Object.fromEntries(Object.entries(own?.options ?? {}).map(([name, { type, multiple }]) => [name, multiple ? { type, multiple } : { type }])),
    });
    if (positionals.length > 1) throw new CliError(`submit takes one kind, not "${positionals.join(' ')}".`, exitCodes.usage);
    let spec: Record<string, unknown> = {};
    if (values.spec) {
      const text = values.spec.startsWith('@') ? new TextDecoder().decode(readFile(values.spec.slice(1), 'the spec')) : values.spec;
      try {
        spec = JSON.parse(text);
      } catch {
        throw new CliError('--spec is not JSON (give JSON, or @FILE with JSON in it).', exitCodes.usage);
      }
    }
    const bid = values.bid === undefined ? undefined : Number(values.bid);
    if (bid !== undefined && !(bid > 0)) throw new CliError('--bid takes a positive number of credits per GFLOP.', exitCodes.usage);
    const verification = values.verification as 'check' | 'replicate' | 'freivalds' | undefined;
    if (verification && !['check', 'replicate', 'freivalds'].includes(verification)) throw new CliError("--verification is check (the workload's cheap check) or replicate.", exitCodes.usage);
    const api = client(values);
    if (own) {
      const usage = (message: string) => new CliError(message, exitCodes.usage);
      spec = await own.spec(values as Record<string, string | boolean | string[] | undefined>, spec, { readFile, putBlob: (bytes) => api.putBlob(bytes), usage });
    }
    const job = await api.submitJob({ kind, spec, bid, verification, ...(values.name ? { name: values.name } : {}), ...(values.tag ? { tags: values.tag as string[] } : {}), ...(values.webhook ? { webhook: values.webhook as string } : {}) });
    console.log(job.id);
    console.error(`Submitted ${kind} job ${job.id}: ${job.units} units, estimate ${formatCredits(job.estimate.credits)} credits at ${formatCredits(job.bid)} per GFLOP (${formatCredits(job.escrow)} held while it runs).`);
    if (values.wait) return follow(api, job.id, values.out);
    if (values.out) throw new CliError('--out needs --wait (or use supernet download later).', exitCodes.usage);
    return exitCodes.ok;
  },
  async status(args) {
    const { values, positionals } = parse(args, {});
    console.log(JSON.stringify(await client(values).getJob(needId(positionals, 'status')), null, 2));
    return exitCodes.ok;
  },
  async jobs(args) {
    const { values } = parse(args, { state: { type: 'string' }, tag: { type: 'string' } });
    const { jobs } = await client(values).listJobs({ ...(values.state ? { state: values.state } : {}), ...(values.tag ? { tag: values.tag } : {}) });
    if (!jobs.length) console.error(values.state || values.tag ? 'No job of yours matches.' : 'No jobs yet: supernet submit KIND … makes one.');
    for (const j of jobs) {
      const units = `${j.progress.verified}/${j.progress.units} units`;
      console.log([j.id, j.kind.padEnd(7), j.state.padEnd(9), units.padEnd(17), `${formatCredits(j.cost.paid)} credits`.padEnd(16), j.name ?? ''].join('  ').trimEnd());
    }
    return exitCodes.ok;
  },
  async wait(args) {
    const { values, positionals } = parse(args, { out: { type: 'string' } });
    return follow(client(values), needId(positionals, 'wait'), values.out);
  },
  async download(args) {
    const { values, positionals } = parse(args, { out: { type: 'string' } });
    const id = needId(positionals, 'download');
    if (!values.out) throw new CliError('download needs --out FILE.', exitCodes.usage);
    await download(client(values), id, values.out);
    return exitCodes.ok;
  },
  async cancel(args) {
    const { values, positionals } = parse(args, {});
    const job = await client(values).cancelJob(needId(positionals, 'cancel'));
    console.log(`Job ${job.id} ${job.state}: ${formatCredits(job.cost.paid)} credits paid, ${formatCredits(job.cost.refunded)} returned.`);
    return exitCodes.ok;
  },
  async keys(args) {
    const { values, positionals } = parse(args, {});
    const api = client(values);
    const [action, arg] = positionals;
    if (action === 'create') {
      if (!arg) throw new CliError('keys create needs a name.', exitCodes.usage);
      const key = await api.createKey(arg);
      console.log(key.secret);
      console.error(`Key "${key.name}" (${key.id}): copy the secret now, it is shown once.`);
    } else if (action === 'revoke') {
      if (!arg) throw new CliError('keys revoke needs a key id (supernet keys lists them).', exitCodes.usage);
      await api.revokeKey(arg);
      console.error(`Revoked ${arg}.`);
    } else if (action === undefined) {
      for (const k of (await api.listKeys()).keys) console.log(`${k.id}  ${k.prefix}…  ${k.name}  last used ${k.lastUsedAt ?? 'never'}`);
    } else throw new CliError(`keys takes create NAME or revoke ID, not "${action}".`, exitCodes.usage);
    return exitCodes.ok;
  },
  async balance(args) {
    const { values } = parse(args, {});
    const me = await client(values).me();
    console.log(`${formatCredits(me.balance)} credits available (${formatCredits(me.wallet.pendingIn)} coming in, ${formatCredits(me.wallet.pendingOut)} held for jobs; ${formatCredits(me.wallet.earned)} earned in all)`);
    return exitCodes.ok;
  },
  async 'webhook-secret'(args) {
    const { values } = parse(args, {});
    console.log((await client(values).webhookSecret()).secret);
    return exitCodes.ok;
  },
  async transfer(args) {
    const { values } = parse(args, { to: { type: 'string' }, amount: { type: 'string' }, 'idempotency-key': { type: 'string' }, memo: { type: 'string' } });
    const amount = Number(values.amount);
    if (!values.to || !(amount > 0)) throw new CliError('transfer needs --to EMAIL|ID and --amount CREDITS.', exitCodes.usage);
    const idempotencyKey = values['idempotency-key'] ?? `cli-${crypto.randomUUID()}`;
    const done = await client(values).transfer({ to: values.to, amount, idempotencyKey, memo: values.memo });
    console.log(`${done.applied ? 'Sent' : 'Already sent (same idempotency key)'}: ${formatCredits(done.transfer.amount)} credits to ${values.to} (key ${idempotencyKey}).`);
    return exitCodes.ok;
  },
};

/** The exit code and one-line reason for an error of a developer command. */
export function describeFailure(err: unknown, url?: string): { code: number; message: string } {
  if (err instanceof CliError) return { code: err.code, message: err.message };
  if (err instanceof SupernetError) return { code: exitCodes.refused, message: `${err.message} (HTTP ${err.status})` };
  // fetch fails with a TypeError whose cause says why: ECONNREFUSED, ENOTFOUND… or, for a port
  // it will not use (1, 6000…), only "bad port".
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if (err instanceof TypeError && cause) return { code: exitCodes.unreachable, message: `cannot reach the coordinator${url ? ` at ${url}` : ''} (${cause.code ?? cause.message}): is it running? Check --url or SUPERNET_URL.` };
  return { code: exitCodes.refused, message: (err as Error).message };
}
