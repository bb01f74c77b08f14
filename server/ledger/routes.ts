import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv, Deps } from '../context.ts';
import { requireAccount } from '../context.ts';
import { inTransaction } from '../db/index.ts';
import { badRequest, notFound } from '../errors.ts';
import { agingSeconds, currentPrice, marketInputs, priceMax, priceMin, stepMax, targetQueueSeconds } from '../market/price.ts';
import { transferBody, transfersQuery, usageQuery } from '../api/schemas.ts';
import { parseBody } from '../validate.ts';
import { basePrice, toCredits, toMicro } from './credit.ts';
import { openAccount, transfer, userAccount } from './ledger.ts';
import { usageOf, historyOf, transferView } from './views.ts';

const historyPoints = 360;

export function ledgerRoutes(deps: Deps) {
  const app = new Hono<AppEnv>();
  const { db } = deps;

  app.get('/ledger/transfers', async (c) => {
    const me = userAccount(requireAccount(c));
    const query = transfersQuery.safeParse(c.req.query());
    if (!query.success) throw badRequest('limit is 1 to 500; before is a seq from an earlier page.');
    const rows = await db
      .selectFrom('transfers')
      .selectAll()
      .where((eb) => eb.or([eb('debit_account_id', '=', me), eb('credit_account_id', '=', me)]))
      .$call((q) => (query.data.before ? q.where('seq', '<', query.data.before) : q))
      .orderBy('seq', 'desc')
      .limit(query.data.limit)
      .execute();
    return c.json({ transfers: rows.map((t) => transferView(t, me)), next: rows.length === query.data.limit ? rows.at(-1)!.seq : null });
  });

  // The history people read: a job's work or spending in one line (GET /ledger/transfers has every row).
  app.get('/ledger/history', async (c) => c.json({ entries: await historyOf(db, requireAccount(c)) }));

  app.get('/usage', async (c) => {
    const query = usageQuery.safeParse(c.req.query());
    if (!query.success) throw badRequest('days is a whole number from 1 to 366.');
    return c.json({ days: await usageOf(db, requireAccount(c), query.data.days) });
  });

  app.post('/transfers', async (c) => {
    const from = requireAccount(c);
    const body = await parseBody(c, transferBody);
    const amount = toMicro(body.amount, 'amount');
    const to = await db
      .selectFrom('accounts')
      .select('id')
      .where(z.uuid().safeParse(body.to).success ? 'id' : 'email', '=', body.to.toLowerCase())
      .executeTakeFirst();
    if (!to) throw notFound(`No account "${body.to}": give the recipient's account id or email.`);
    if (to.id === from) throw badRequest('That is your own account: send credits to someone else.');
    const result = await inTransaction(db, async (trx) => {
      await openAccount(trx, userAccount(to.id), 'user', { accountId: to.id });
      await openAccount(trx, userAccount(from), 'user', { accountId: from });
      return transfer(trx, { id: `xfer:${from}:${body.idempotencyKey}`, debit: userAccount(from), credit: userAccount(to.id), amount, code: 'transfer', memo: body.memo ?? null });
    });
    return c.json({ applied: result.created, transfer: transferView(result.transfer, userAccount(from)) }, result.created ? 201 : 200);
  });

  app.get('/market', async (c) => {
    const inputs = await marketInputs(db, 3 * deps.config.leaseTtlMs);
    const history = await db.selectFrom('market_prices').select(['at', 'price']).orderBy('id', 'desc').limit(historyPoints).execute();
    return c.json({
      unit: 'credits per GFLOP',
      price: toCredits(await currentPrice(db)),
      base: toCredits(basePrice),
      bounds: { min: toCredits(priceMin), max: toCredits(priceMax), stepMax },
      demand: { flops: inputs.demandFlops, queueSeconds: inputs.supplyGflops > 0 ? inputs.demandFlops / (inputs.supplyGflops * 1e9) : null },
      supply: { gflops: inputs.supplyGflops, nodes: inputs.nodes },
      rule: `price moves at most ${stepMax * 100}% per tick toward base × √(queue seconds / ${targetQueueSeconds}), within [${toCredits(priceMin)}, ${toCredits(priceMax)}]; jobs are served by bid, doubled every ${agingSeconds} s of waiting`,
      history: history.reverse().map((h) => ({ at: h.at, price: toCredits(h.price) })),
    });
  });

  return app;
}
