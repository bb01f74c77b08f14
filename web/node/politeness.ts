import { dayName, followSchedule, hhmm, nextChange, type Schedule } from '../../server/agent/schedule.ts';

/**
 * Why a browser node is not working right now. It works only when the person has clicked
 * Start and no reason is left: each reason is added and removed by what the page sees.
 *   you      they clicked Pause (or never clicked Start: a node never starts on its own)
 *   hidden   the tab is hidden and they did not allow background work
 *   battery  on battery at or under `batteryLow`, where the Battery API exists
 *   schedule outside the hours they chose ("only between 22:00 and 07:00")
 */
export type PauseReason = 'you' | 'hidden' | 'battery' | 'schedule';

export const batteryLow = 0.2;

interface BatteryLike extends EventTarget {
  level: number;
  charging: boolean;
}

export class Politeness {
  readonly reasons = new Set<PauseReason>(['you']);
  allowBackground: boolean;
  #onChange: () => void;

  constructor(opts: { allowBackground: boolean; onChange: () => void }) {
    this.allowBackground = opts.allowBackground;
    this.#onChange = opts.onChange;
    document.addEventListener('visibilitychange', () => this.#checkVisibility());
    this.#checkVisibility();
    void this.#watchBattery();
  }

  #set(reason: PauseReason, on: boolean) {
    if (on === this.reasons.has(reason)) return;
    if (on) this.reasons.add(reason);
    else this.reasons.delete(reason);
    this.#onChange();
  }

  setUserPaused(paused: boolean) {
    this.#set('you', paused);
  }

  schedule: Schedule | null = null;
  #unfollow: (() => void) | null = null;

  /** Works only within `schedule` from now on (none: at any hour). */
  setSchedule(schedule: Schedule | null) {
    this.#unfollow?.();
    this.#unfollow = null;
    this.schedule = schedule;
    if (schedule) this.#unfollow = followSchedule(schedule, (open) => this.#set('schedule', !open));
    else this.#set('schedule', false);
  }

  /** When the schedule opens next, for the page: "at 22:00", "on sat at 00:00". */
  nextOpening(): string {
    const now = new Date();
    const next = this.schedule && nextChange(this.schedule, now);
    if (!next) return 'never: no hour of the week is in it';
    return `${next.getDay() === now.getDay() ? '' : `on ${dayName(next)} `}at ${hhmm(next)}`;
  }

  setAllowBackground(allow: boolean) {
    this.allowBackground = allow;
    this.#checkVisibility();
  }

  #checkVisibility() {
    this.#set('hidden', document.visibilityState === 'hidden' && !this.allowBackground);
  }

  async #watchBattery() {
    const getBattery = (navigator as Navigator & { getBattery?: () => Promise<BatteryLike> }).getBattery;
    if (!getBattery) return;
    try {
      const battery = await getBattery.call(navigator);
      const check = () => this.#set('battery', !battery.charging && battery.level <= batteryLow);
      battery.addEventListener('levelchange', check);
      battery.addEventListener('chargingchange', check);
      check();
    } catch {
      // no battery information: nothing to be polite about
    }
  }
}
