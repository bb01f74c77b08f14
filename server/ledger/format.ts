// How every surface writes an amount of credits: the portal, the contribute page, the widget,
// the network page, the CLI and the agent. Pure, so the browser bundles it too.

/**
 * Credits with the digits that matter, grouped in thousands (en-US, so the CLI and the pages
 * read alike): 2 significant digits under 1 (a unit pays 0.033), 2 decimals up to a million
 * (a balance of 99,982.82 moves when a job costs 17), whole credits above.
 */
export function formatCredits(credits: number): string {
  const abs = Math.abs(credits);
  if (abs === 0 || !Number.isFinite(credits)) return '0';
  const sign = credits < 0 ? '−' : '';
  if (abs < 1) return sign + Number(abs.toPrecision(2)).toLocaleString('en-US', { maximumFractionDigits: 6 });
  const decimals = abs >= 1e6 ? 0 : 2;
  return sign + abs.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** What a credit is worth, in one sentence for people (server/ledger/credit.ts has the reasons). */
export const creditMeaning = '1 credit buys 1 GFLOP (a billion operations) of verified GPU work at the base price: a 1024×1024 matrix product costs about 2 credits, a 512×512 render at 64 samples about 335.';

/** "12 credits an hour" from what was earned over a while; null while too short to say. */
export function creditsPerHour(credits: number, ms: number): string | null {
  if (ms < 10_000 || credits <= 0) return null;
  const hourly = (credits * 3_600_000) / ms;
  return `about ${hourly >= 10 ? Math.round(hourly).toLocaleString('en-US') : formatCredits(hourly)} credits an hour at this pace`;
}

/** Bytes for people, in powers of 1000 as disks and networks count them: "0 B", "640 kB", "12.3 MB", "4.10 GB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0 B';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  const power = Math.min(units.length - 1, Math.floor(Math.log10(bytes) / 3));
  const value = bytes / 1000 ** power;
  return `${power === 0 ? value : Number(value.toPrecision(3)).toLocaleString('en-US')} ${units[power]}`;
}
