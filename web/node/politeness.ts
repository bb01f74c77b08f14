/**
 * Why a browser node is not working right now. It works only when the person has clicked
 * Start and no reason is left: each reason is added and removed by what the page sees.
 *   you      they clicked Pause (or never clicked Start: a node never starts on its own)
 *   hidden   the tab is hidden and they did not allow background work
 *   battery  on battery at or under `batteryLow`, where the Battery API exists
 */
export type PauseReason = 'you' | 'hidden' | 'battery';

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
