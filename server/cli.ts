import { parseArgs } from 'node:util';
import { startAgent } from './agent/main.ts';
import { loadConfig } from './config.ts';
import { startCoordinator } from './coordinator.ts';
import { ConfigError } from './errors.ts';
import { randomUUID, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inTransaction, openStore, type Db } from './db/index.ts';
import { assertStoreFree } from './db/lock.ts';
import { exportLedger, keyFile, loadOrCreateKey, publicPem, verifyLedgerDb, verifyLedgerFile } from './ledger/checkpoint.ts';
import { microPerCredit, toCredits } from './ledger/credit.ts';
import { openAccount, transfer, treasury, userAccount } from './ledger/ledger.ts';
import { walletOf } from './ledger/views.ts';
import { devCommands, devHelp, describeFailure } from './cli-dev.ts';

const help = `supernet — a volunteer GPU compute network

Usage:
  supernet serve                       start the coordinator (PORT, SUPERNET_DATA, DATABASE_URL, … see README)
  supernet agent --url URL --key KEY   run a headless node on this machine's GPU (WebGPU through Dawn)

  supernet mint --to EMAIL|ID --amount CREDITS [--memo TEXT]
                                       admin: mint credits from the treasury into an account
  supernet verify-ledger [--file FILE] [--public-key PEM]…
                                       recompute the transfer chain, check the signed checkpoints
                                       and the balances; exit 0 when whole, 1 with each problem
  supernet export-ledger --out FILE    write every transfer and checkpoint as JSON lines
  supernet ledger-key                  print the public key that signs this coordinator's checkpoints

Options for agent:
  --url URL     the coordinator (or SUPERNET_URL)          --key KEY   an API key (or SUPERNET_KEY)
  --name NAME   how the node shows in stats                --slots N   leases held at once (default 2)
  --ask CREDITS the least credits per TFLOP to work for (default: any)
  --throttle PERCENT  the most of its time the GPU may be busy, 5 to 100 (default 100)

Admin commands open the store named by DATABASE_URL / SUPERNET_DATA directly. On the embedded
store they need the coordinator stopped (PGlite is one process's database).

${devHelp}
`;

/** One-line reason, non-zero exit: what scripts rely on. */
function fail(message: string, code = 1): never {
  console.error(`supernet: ${message}`);
  process.exit(code);
}

async function main(argv: string[]) {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') return void console.log(help);
  if (command === 'serve') {
    const coordinator = await startCoordinator(loadConfig());
    const store = coordinator.deps.config.databaseUrl ? 'PostgreSQL' : `PGlite in ${coordinator.deps.config.dataDir}`;
    console.log(`Supernet coordinator on ${coordinator.url} (store: ${store})`);
    const stop = () => void coordinator.close().then(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return;
  }
  if (command === 'agent') {
    const { values } = parseArgs({
      args: rest,
      options: { url: { type: 'string' }, key: { type: 'string' }, name: { type: 'string' }, slots: { type: 'string' }, ask: { type: 'string' }, throttle: { type: 'string' } },
    });
    const throttle = values.throttle === undefined ? undefined : Number(values.throttle);
    if (throttle !== undefined && !(throttle >= 5 && throttle <= 100)) fail('--throttle takes the most percent of its time the GPU may be busy, 5 to 100.', 2);
    const ask = values.ask === undefined ? undefined : Number(values.ask);
    if (ask !== undefined && !(Number.isFinite(ask) && ask >= 0)) fail('--ask takes a number of credits per TFLOP, 0 or more.', 2);
    const url = values.url ?? process.env.SUPERNET_URL;
    if (!url) fail('agent needs the coordinator: --url http://host:8787 (or SUPERNET_URL).', 2);
    const slots = values.slots === undefined ? undefined : Number(values.slots);
    if (slots !== undefined && !(Number.isInteger(slots) && slots >= 1 && slots <= 8)) fail('--slots takes a whole number from 1 to 8.', 2);
    const runtime = await startAgent({ url, key: values.key ?? process.env.SUPERNET_KEY, name: values.name, slots, ask, throttle: throttle === undefined ? undefined : throttle / 100 });
    const stop = () => {
      runtime.stop();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return;
  }
  if (command in admin) return admin[command as keyof typeof admin](rest);
  if (command in devCommands) {
    try {
      process.exitCode = await devCommands[command]!(rest);
    } catch (err) {
      const { code, message } = describeFailure(err);
      console.error(`supernet: ${message}`);
      process.exitCode = code;
    }
    return;
  }
  fail(`unknown command "${command}": run supernet --help.`, 2);
}

/** Opens the configured store for an admin command, runs `work`, closes it. */
async function withStore<T>(doing: string, work: (db: Db, dataDir: string) => Promise<T>): Promise<T> {
  const config = loadConfig();
  if (!config.databaseUrl) assertStoreFree(config.dataDir, doing);
  const db = await openStore(config);
  try {
    return await work(db, config.dataDir);
  } finally {
    await db.destroy();
  }
}

const admin = {
  async mint(args: string[]) {
    const { values } = parseArgs({ args, options: { to: { type: 'string' }, amount: { type: 'string' }, memo: { type: 'string' } } });
    const amount = Number(values.amount);
    if (!values.to || !(amount > 0)) fail('mint needs --to EMAIL|ID and --amount CREDITS (a positive number).', 2);
    const micro = Math.round(amount * microPerCredit);
    await withStore('mint', async (db) => {
      const account = await db.selectFrom('accounts').select(['id', 'email']).where(/^[0-9a-f-]{36}$/.test(values.to!) ? 'id' : 'email', '=', values.to!.toLowerCase()).executeTakeFirst();
      if (!account) fail(`no account "${values.to}".`);
      await inTransaction(db, async (trx) => {
        await openAccount(trx, userAccount(account.id), 'user', { accountId: account.id });
        await transfer(trx, { id: `mint:${randomUUID()}`, debit: treasury, credit: userAccount(account.id), amount: micro, code: 'mint', memo: values.memo ?? null });
      });
      console.log(`Minted ${toCredits(micro)} credits to ${account.email}; balance now ${(await walletOf(db, account.id)).available}.`);
    });
  },
  async 'verify-ledger'(args: string[]) {
    const { values } = parseArgs({ args, options: { file: { type: 'string' }, 'public-key': { type: 'string', multiple: true } } });
    const config = loadConfig();
    const trusted = (values['public-key'] ?? []).map((path) => readFileSync(path, 'utf8'));
    const own = join(config.dataDir, keyFile);
    if (!trusted.length && existsSync(own)) trusted.push(publicPem(createPrivateKey(readFileSync(own))));
    if (!trusted.length) fail(`no key to check checkpoints with: give --public-key FILE (the output of supernet ledger-key), or run where ${own} is.`, 2);
    const verdict = values.file ? await verifyLedgerFile(values.file, trusted) : await withStore('verify the ledger', (db) => verifyLedgerDb(db, trusted));
    for (const p of verdict.problems) console.log(`problem: ${p}`);
    console.log(`${verdict.ok ? 'ledger OK' : 'ledger BROKEN'}: ${verdict.transfers} transfers, ${verdict.checkpoints} signed checkpoints${verdict.ok ? '' : `, ${verdict.problems.length} problems`}.`);
    process.exitCode = verdict.ok ? 0 : 1;
  },
  async 'export-ledger'(args: string[]) {
    const { values } = parseArgs({ args, options: { out: { type: 'string' } } });
    if (!values.out) fail('export-ledger needs --out FILE.', 2);
    const lines: string[] = [];
    const counts = await withStore('export the ledger', (db) => exportLedger(db, (line) => lines.push(line)));
    writeFileSync(values.out, lines.join('\n') + '\n');
    console.log(`Wrote ${counts.transfers} transfers and ${counts.checkpoints} checkpoints to ${values.out}.`);
  },
  async 'ledger-key'() {
    const config = loadConfig();
    process.stdout.write(publicPem(loadOrCreateKey(config.dataDir)));
  },
};

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof ConfigError) fail(err.message, 2);
  fail((err as Error).message);
});
