import type { Db } from '../db/index.ts';
import { slowDown } from '../errors.ts';

/**
 * Failed sign-in limits.
 * Per account: 10 failures in 15 minutes lock the email for the rest of that window,
 * whatever addresses they came from (a botnet gets 10 guesses per 15 minutes, not 10 per IP).
 * Failures are kept by email, so an unknown email locks exactly like a known one and the
 * answers cannot tell them apart. They live in the store, so every coordinator process and a
 * restart see the same count.
 * Per address: 100 failures in 15 minutes from one IP, across all emails (a sprayer), kept in
 * memory: losing it on restart costs at most one more window.
 */
export const loginWindowMs = 15 * 60_000;
export const loginFailuresPerAccountMax = 10;
export const loginFailuresPerIpMax = 100;

const failuresByIp = new Map<string, number[]>();

function recentIpFailures(ip: string, now: number): number[] {
  const kept = (failuresByIp.get(ip) ?? []).filter((t) => now - t < loginWindowMs);
  if (kept.length) failuresByIp.set(ip, kept);
  else failuresByIp.delete(ip);
  return kept;
}

/** Throws 429 when this email or this address may not try again yet. */
export async function checkLoginAllowed(db: Db, email: string, ip: string) {
  const now = Date.now();
  if (recentIpFailures(ip, now).length >= loginFailuresPerIpMax) {
    throw slowDown('Too many failed sign-ins from your address: wait 15 minutes and try again.');
  }
  const rows = await db
    .selectFrom('login_failures')
    .select('at')
    .where('email', '=', email)
    .where('at', '>', new Date(now - loginWindowMs))
    .orderBy('at', 'desc')
    .limit(loginFailuresPerAccountMax)
    .execute();
  if (rows.length >= loginFailuresPerAccountMax) {
    const oldest = rows.at(-1)!.at.getTime();
    const minutes = Math.max(1, Math.ceil((oldest + loginWindowMs - now) / 60_000));
    throw slowDown(`This account is locked after ${loginFailuresPerAccountMax} failed sign-ins: try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`);
  }
}

export async function recordLoginFailure(db: Db, email: string, ip: string) {
  const now = Date.now();
  failuresByIp.set(ip, [...recentIpFailures(ip, now), now]);
  await db.insertInto('login_failures').values({ email, ip }).execute();
}

export async function clearLoginFailures(db: Db, email: string) {
  await db.deleteFrom('login_failures').where('email', '=', email).execute();
}
