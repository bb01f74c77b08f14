import { sql } from 'kysely';
import type { Db } from './index.ts';

/**
 * Chores done once across all coordinators on one store, by any of them. A coordinator takes a
 * chore's turn for `holdMs` and renews it each time it does the chore; another takes it over
 * only once the holder has let it pass `until` (stopped, killed or cut off). The holder's
 * clock writes `until` and the store's compares it, so the hold is the store's time. A chore
 * must stay safe if two ever run at once (every one here is: each is guarded transactions),
 * this only keeps three coordinators from doing each sweep three times.
 */
export async function takeTurn(db: Db, chore: string, holder: string, holdMs: number): Promise<boolean> {
  const row = await sql<{ holder: string }>`
    insert into turns (name, holder, until) values (${chore}, ${holder}, now() + ${holdMs} * interval '1 millisecond')
    on conflict (name) do update set holder = excluded.holder, until = excluded.until
      where turns.holder = excluded.holder or turns.until < now()
    returning holder`.execute(db);
  return row.rows.length > 0;
}

/** Lets a chore go at once (a coordinator that stops), so another takes it at its next tick. */
export async function passTurns(db: Db, holder: string) {
  await db.deleteFrom('turns').where('holder', '=', holder).execute();
}
