import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openStore, type Db } from '../../server/db/index.ts';
import { checkpointMessage } from '../../server/ledger/chain.ts';
import { TestClient } from '../helpers/client.ts';
import { runCli, spawnCli, stopChild, testCoordinator, waitForOutput } from '../helpers/coordinator.ts';
import { storeKinds } from '../helpers/stores.ts';

describe.each(storeKinds)('verify-ledger (%s)', (store) => {
  it('passes a whole ledger, from the database and from an export, and finds an edited row, a deleted row and a forged checkpoint', async () => {
    const coordinator = await testCoordinator(store, { SUPERNET_CHECKPOINT_MS: '200' });
    const env = { SUPERNET_DATA: coordinator.deps.config.dataDir, DATABASE_URL: coordinator.deps.config.databaseUrl ?? undefined };
    const a = await TestClient.signup(coordinator.url, 'a@example.com');
    const b = await TestClient.signup(coordinator.url, 'b@example.com');
    for (let i = 0; i < 5; i++) await a.json('POST', '/api/transfers', { to: b.accountId, amount: 1 + i, idempotencyKey: `t${i}` }, 201);
    await new Promise((r) => setTimeout(r, 400)); // a checkpoint mid-way
    await b.json('POST', '/api/transfers', { to: a.accountId, amount: 2, idempotencyKey: 'back' }, 201);
    await coordinator.close(); // signs the tip on the way out

    const whole = await runCli(['verify-ledger'], env);
    expect(whole.output).toMatch(/ledger OK: 8 transfers, \d+ signed checkpoints/);
    expect(whole.code).toBe(0);
    // The admin mint: credits from the treasury, on the chain like any transfer.
    const minted = await runCli(['mint', '--to', 'a@example.com', '--amount', '5', '--memo', 'prize'], env);
    expect(minted.output).toMatch(/Minted 5\.00 credits to a@example.com; balance now 99,992\.00/);
    expect((await runCli(['mint', '--to', 'nobody@example.com', '--amount', '5'], env)).code).toBe(1);
    expect((await runCli(['verify-ledger'], env)).output).toMatch(/ledger OK: 9 transfers/);
    // While a coordinator holds the embedded store, admin commands refuse instead of corrupting it.
    if (store === 'pglite') {
      const serving = spawnCli(['serve'], { ...env, PORT: '0' });
      await waitForOutput(serving, /coordinator on/);
      const refused = await runCli(['verify-ledger'], env);
      expect(refused.code).toBe(2);
      expect(refused.output).toMatch(/has the embedded store .* open: stop it/);
      await stopChild(serving);
    }

    const exported = join(env.SUPERNET_DATA, 'ledger.jsonl');
    expect((await runCli(['export-ledger', '--out', exported], env)).code).toBe(0);
    const key = join(env.SUPERNET_DATA, 'public.pem');
    writeFileSync(key, (await runCli(['ledger-key'], env)).output);
    expect((await runCli(['verify-ledger', '--file', exported, '--public-key', key])).output).toMatch(/ledger OK: 9 transfers/);
    // An edited line in the export.
    const lines = readFileSync(exported, 'utf8').trim().split('\n');
    const edited = lines.map((l, i) => (i === 3 ? l.replace(/"amount":(\d+)/, (_, n) => `"amount":${Number(n) * 10}`) : l));
    writeFileSync(exported, edited.join('\n'));
    const badFile = await runCli(['verify-ledger', '--file', exported, '--public-key', key]);
    expect(badFile.code).toBe(1);
    expect(badFile.output).toMatch(/transfer 4 .* was changed/);

    // Edits go in with the store opened here, then closed: PGlite is one process's database.
    const tamper = async (work: (db: Db) => Promise<unknown>) => {
      const db = await openStore({ dataDir: env.SUPERNET_DATA, databaseUrl: env.DATABASE_URL ?? null });
      try {
        await work(db);
      } finally {
        await db.destroy();
      }
    };
    // Transfers refuse UPDATE and DELETE outright…
    await tamper((db) => expect(sql`update transfers set amount = amount + 1 where seq = 4`.execute(db)).rejects.toThrow(/immutable/));
    // …so a forger goes around the trigger, and verify-ledger still sees it.
    await tamper(async (db) => {
      await sql`alter table transfers disable trigger transfers_immutable`.execute(db);
      await sql`update transfers set amount = amount + 1000000 where seq = 4`.execute(db);
    });
    let out = await runCli(['verify-ledger'], env);
    expect(out.code).toBe(1);
    expect(out.output).toMatch(/transfer 4 \(.*\) was changed/);
    expect(out.output).toMatch(/cached balance disagrees/);
    await tamper((db) => sql`update transfers set amount = amount - 1000000 where seq = 4`.execute(db));
    expect((await runCli(['verify-ledger'], env)).code).toBe(0);

    await tamper((db) => sql`delete from transfers where seq = 5`.execute(db));
    out = await runCli(['verify-ledger'], env);
    expect(out.code).toBe(1);
    expect(out.output).toMatch(/transfer seq 5 is missing/);
    expect(out.output).toMatch(/transfer 6 .* does not follow/);

    // A checkpoint signed with a key that is not ours.
    await tamper(async (db) => {
      const { privateKey } = generateKeyPairSync('ed25519');
      const at = new Date();
      const head = await db.selectFrom('ledger_head').selectAll().executeTakeFirstOrThrow();
      const seq = head.seq + 50;
      await db.insertInto('ledger_checkpoints').values({ seq, hash: head.hash, at, public_key: 'forged', signature: sign(null, Buffer.from(checkpointMessage(seq, head.hash, at)), privateKey).toString('base64') }).execute();
    });
    out = await runCli(['verify-ledger'], env);
    expect(out.output).toMatch(/checkpoint at seq \d+ is not signed by a trusted key/);
    expect(out.output).toMatch(/names a transfer that is not there/);
  }, 240_000); // fourteen runs of the CLI, each opening the store: ~3 s apiece alone, far more beside other tests
});
