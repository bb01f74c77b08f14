import { createPrivateKey, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CliError, exitCodes } from './cli-dev.ts';
import { loadConfig } from './config.ts';
import { inTransaction, openStore, type Db } from './db/index.ts';
import { assertStoreFree } from './db/lock.ts';
import { exportLedger, keyFile, loadOrCreateKey, publicPem, verifyLedgerDb, verifyLedgerFile } from './ledger/checkpoint.ts';
import { microPerCredit, showCredits } from './ledger/credit.ts';
import { formatCredits } from './ledger/format.ts';
import { openAccount, transfer, treasury, userAccount } from './ledger/ledger.ts';
import { walletOf } from './ledger/views.ts';

/**
 * The admin commands. They open the store directly, so they live apart from the CLI's entry:
 * `supernet status` need not load PGlite and the coordinator (2.3 s of imports here).
 */

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

/** `supernet mint|verify-ledger|export-ledger|ledger-key`: each exits through CliError on failure. */
export const admin: Record<string, (args: string[]) => Promise<void>> = {
  async mint(args: string[]) {
    const { values } = parseArgs({ args, options: { to: { type: 'string' }, amount: { type: 'string' }, memo: { type: 'string' } } });
    const amount = Number(values.amount);
    if (!values.to || !(amount > 0)) throw new CliError('mint needs --to EMAIL|ID and --amount CREDITS (a positive number).', exitCodes.usage);
    const micro = Math.round(amount * microPerCredit);
    await withStore('mint', async (db) => {
      const account = await db.selectFrom('accounts').select(['id', 'email']).where(/^[0-9a-f-]{36}$/.test(values.to!) ? 'id' : 'email', '=', values.to!.toLowerCase()).executeTakeFirst();
      if (!account) throw new CliError(`no account "${values.to}".`, exitCodes.refused);
      await inTransaction(db, async (trx) => {
        await openAccount(trx, userAccount(account.id), 'user', { accountId: account.id });
        await transfer(trx, { id: `mint:${randomUUID()}`, debit: treasury, credit: userAccount(account.id), amount: micro, code: 'mint', memo: values.memo ?? null });
      });
      console.log(`Minted ${showCredits(micro)} credits to ${account.email}; balance now ${formatCredits((await walletOf(db, account.id)).available)}.`);
    });
  },
  async 'verify-ledger'(args: string[]) {
    const { values } = parseArgs({ args, options: { file: { type: 'string' }, 'public-key': { type: 'string', multiple: true } } });
    const config = loadConfig();
    const trusted = (values['public-key'] ?? []).map((path) => readFileSync(path, 'utf8'));
    const own = join(config.dataDir, keyFile);
    if (!trusted.length && existsSync(own)) trusted.push(publicPem(createPrivateKey(readFileSync(own))));
    if (!trusted.length) throw new CliError(`no key to check checkpoints with: give --public-key FILE (the output of supernet ledger-key), or run where ${own} is.`, exitCodes.usage);
    const verdict = values.file ? await verifyLedgerFile(values.file, trusted) : await withStore('verify the ledger', (db) => verifyLedgerDb(db, trusted));
    for (const p of verdict.problems) console.log(`problem: ${p}`);
    console.log(`${verdict.ok ? 'ledger OK' : 'ledger BROKEN'}: ${verdict.transfers} transfers, ${verdict.checkpoints} signed checkpoints${verdict.ok ? '' : `, ${verdict.problems.length} problems`}.`);
    process.exitCode = verdict.ok ? 0 : 1;
  },
  async 'export-ledger'(args: string[]) {
    const { values } = parseArgs({ args, options: { out: { type: 'string' } } });
    if (!values.out) throw new CliError('export-ledger needs --out FILE.', exitCodes.usage);
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
