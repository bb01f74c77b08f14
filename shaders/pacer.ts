/**
 * The throttle: keeps the share of wall time a node's GPU is busy at or under `share`.
 *
 * After a dispatch that kept the GPU busy d ms, the GPU owes d·(1−s)/s ms of rest before the
 * next one; time spent idle anyway (fetching inputs, uploading, waiting for work) pays the debt
 * off. Idle time beyond the debt is banked, up to `bankMsMax`, against the next dispatches'
 * rest: without it, the gaps between units (upload, next unit) were lost, and a 50% throttle
 * gave 0.39-0.44 on a loaded machine where the unthrottled node was busy 0.57 of the time.
 * The bank is small on purpose: a long idle spell buys at most a second of rest, never a long
 * burst at 100%, which is what heats a laptop and spins its fans. Rest is taken between
 * dispatches, and dispatches are kept near 250 ms (workloads/matmul/gpu.ts), so the share holds
 * over any few seconds, not just on average over a unit.
 *
 * It also keeps the last busy intervals, so a page can show (and a test can measure) the share
 * of time the GPU really was busy.
 */
/** The most idle time beyond the debt that counts as rest for later dispatches. */
export const bankMsMax = 1000;

export class Pacer {
  #share = 1;
  /** Rest owed; negative: rest banked (at most bankMsMax). */
  #debtMs = 0;
  #lastEnd = -Infinity;
  readonly #intervals: [number, number][] = [];

  constructor(private readonly now: () => number = () => performance.now()) {}

  get share() {
    return this.#share;
  }

  /** The busiest share allowed, 0.05 to 1. */
  set share(value: number) {
    if (!(value > 0)) throw new Error('the throttle is a share of time above 0');
    this.#share = Math.min(1, Math.max(0.05, value));
    this.#debtMs = 0;
  }

  /** Waits out the rest owed, less the idle time since the last dispatch and the rest banked. */
  async rest(): Promise<void> {
    const now = this.now();
    const idle = Number.isFinite(this.#lastEnd) ? Math.max(0, now - this.#lastEnd) : 0;
    const wait = this.#debtMs - idle;
    this.#debtMs = Math.max(-bankMsMax, Math.min(0, wait));
    if (wait > 0) {
      this.#rests.push([now, now + wait]);
      if (this.#rests.length > 4096) this.#rests.splice(0, 1024);
      await new Promise((resolve) => setTimeout(resolve, wait));
      // A timer fires late on a busy machine (tens of ms in a loaded worker): that rest counts too.
      this.#debtMs = -Math.min(bankMsMax, Math.max(0, this.now() - now - wait));
    }
    if (Number.isFinite(this.#lastEnd)) this.#lastEnd = this.now(); // idle and rest count once
  }

  /** Records a dispatch that kept the GPU busy from `start` to `end` (the `now` clock). */
  busy(start: number, end: number) {
    this.#debtMs += ((end - start) * (1 - this.#share)) / this.#share;
    this.#lastEnd = end;
    this.#intervals.push([start, end]);
    if (this.#intervals.length > 4096) this.#intervals.splice(0, 1024);
  }

  #rests: [number, number][] = [];

  /** The share of [from, to] spent resting for the throttle: none at 100%, however loaded the machine. */
  restShare(from: number, to: number): number {
    let rest = 0;
    for (const [s, e] of this.#rests) rest += Math.max(0, Math.min(e, to) - Math.max(s, from));
    return to > from ? rest / (to - from) : 0;
  }

  /** The longest dispatch that overlaps [from, to], in ms: what one dispatch at a window's edge can add to its busy share. */
  longestBusy(from: number, to: number): number {
    let longest = 0;
    for (const [s, e] of this.#intervals) if (e > from && s < to) longest = Math.max(longest, e - s);
    return longest;
  }

  /** The share of [from, to] the GPU was busy, from the intervals kept. */
  busyShare(from: number, to: number): number {
    let busy = 0;
    for (const [s, e] of this.#intervals) busy += Math.max(0, Math.min(e, to) - Math.max(s, from));
    return to > from ? busy / (to - from) : 0;
  }
}
