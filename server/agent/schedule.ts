// When a node may work: the contribution schedule of the agent (--schedule) and the contribute
// page ("only between … and …"). Shared by Node and the browser; local time of the machine.

const dayNames = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/**
 * A window: days of the week (0 = Sunday) and minutes of the day [from, to). `to < from` crosses
 * midnight and belongs to the day it starts on ("fri 22:00-07:00" is Friday night into Saturday).
 */
interface Window {
  days: Set<number>;
  from: number;
  to: number;
}

export interface Schedule {
  /** As the person wrote it, for messages. */
  text: string;
  windows: Window[];
}

export class ScheduleError extends Error {}

const example = 'for example "22:00-07:00", "mon-fri 18:00-08:00, sat-sun" or "sat-sun"';

function minutesOf(text: string, whole: string): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text);
  const minutes = m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  if (!m || Number(m[2]) > 59 || minutes > 24 * 60) throw new ScheduleError(`"${text}" in the schedule "${whole}" is not a time of day: write HH:MM, from 00:00 to 24:00.`);
  return minutes;
}

function daysOf(text: string, whole: string): Set<number> {
  const index = (name: string) => {
    const i = dayNames.indexOf(name.toLowerCase().slice(0, 3) as (typeof dayNames)[number]);
    if (i < 0 || name.length < 3) throw new ScheduleError(`"${name}" in the schedule "${whole}" is not a day: write mon, tue, wed, thu, fri, sat or sun.`);
    return i;
  };
  const [first, last] = text.split('-');
  const from = index(first!);
  const to = last === undefined ? from : index(last);
  const days = new Set<number>();
  for (let d = from; ; d = (d + 1) % 7) {
    days.add(d);
    if (d === to) break;
  }
  return days;
}

/** "22:00-07:00", "mon-fri 18:00-08:00, sat-sun": windows separated by commas; a clear error otherwise. */
export function parseSchedule(text: string): Schedule {
  const whole = text.trim();
  if (!whole) throw new ScheduleError(`The schedule is empty: ${example}.`);
  const windows = whole.split(',').map((part): Window => {
    const words = part.trim().split(/\s+/);
    if (!words[0] || words.length > 2) throw new ScheduleError(`"${part.trim()}" in the schedule "${whole}" is not a window: ${example}.`);
    const hasDays = /^[a-z]/i.test(words[0]);
    const days = hasDays ? daysOf(words[0], whole) : new Set([0, 1, 2, 3, 4, 5, 6]);
    const range = hasDays ? words[1] : words[0];
    if (hasDays && words.length === 1) return { days, from: 0, to: 24 * 60 };
    if (!range || (!hasDays && words.length === 2)) throw new ScheduleError(`"${part.trim()}" in the schedule "${whole}" is not a window: ${example}.`);
    const [from, to, extra] = range.split('-');
    if (from === undefined || to === undefined || extra !== undefined) throw new ScheduleError(`"${range}" in the schedule "${whole}" is not a range of times: write HH:MM-HH:MM.`);
    const window = { days, from: minutesOf(from, whole), to: minutesOf(to, whole) };
    if (window.from === window.to) throw new ScheduleError(`"${range}" in the schedule "${whole}" is empty: it starts when it ends.`);
    return window;
  });
  return { text: whole, windows };
}

/** Whether the schedule lets a node work at `at` (local time). */
export function isOpen(schedule: Schedule, at: Date): boolean {
  const minute = at.getHours() * 60 + at.getMinutes();
  const today = at.getDay();
  const yesterday = (today + 6) % 7;
  return schedule.windows.some((w) =>
    w.from < w.to
      ? w.days.has(today) && minute >= w.from && minute < w.to
      : (w.days.has(today) && minute >= w.from) || (w.days.has(yesterday) && minute < w.to),
  );
}

/**
 * The next minute at which `isOpen` changes, after `at`; null when it never does (open all week,
 * or never). A walk over the week's minutes (10,080 checks, well under a millisecond's worth of
 * work per change), which stays right across daylight-saving shifts without any calendar sums.
 */
export function nextChange(schedule: Schedule, at: Date): Date | null {
  const now = isOpen(schedule, at);
  const t = new Date(at);
  t.setSeconds(0, 0);
  for (let i = 0; i < 8 * 24 * 60; i++) {
    t.setMinutes(t.getMinutes() + 1);
    if (isOpen(schedule, t) !== now) return t;
  }
  return null;
}

export const hhmm = (d: Date) => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;

export const dayName = (d: Date) => dayNames[d.getDay()]!;

/** "in 5 h 12 min": how long until `then`. */
export function untilText(now: Date, then: Date): string {
  const minutes = Math.max(1, Math.round((then.getTime() - now.getTime()) / 60_000));
  const h = Math.floor(minutes / 60);
  return h ? `${h} h${minutes % 60 ? ` ${minutes % 60} min` : ''}` : `${minutes} min`;
}

/** What the schedule means right now, for a log line or a page: "works until 07:00 (in 3 h)". */
export function describeSchedule(schedule: Schedule, at: Date): string {
  const open = isOpen(schedule, at);
  const next = nextChange(schedule, at);
  const day = next && next.getDay() !== at.getDay() ? `${dayName(next)} ` : '';
  if (!next) return open ? `schedule "${schedule.text}": always open` : `schedule "${schedule.text}": never open`;
  return open
    ? `schedule "${schedule.text}": working until ${day}${hhmm(next)} (in ${untilText(at, next)})`
    : `schedule "${schedule.text}": paused until ${day}${hhmm(next)} (in ${untilText(at, next)})`;
}

/**
 * Calls `onChange(open)` now and at each change of the schedule, until the returned stop is
 * called. A timer per change, set again every hour at most, so a machine that slept (timers
 * stall) or a clock that moved is caught within the hour.
 */
export function followSchedule(schedule: Schedule, onChange: (open: boolean, at: Date) => void, now: () => Date = () => new Date()): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let last: boolean | null = null;
  const tick = () => {
    const at = now();
    const open = isOpen(schedule, at);
    if (open !== last) onChange(open, at);
    last = open;
    const next = nextChange(schedule, at);
    const wait = next ? Math.min(3_600_000, Math.max(1000, next.getTime() - at.getTime() + 500)) : 3_600_000;
    timer = setTimeout(tick, wait);
    (timer as { unref?: () => void }).unref?.();
  };
  tick();
  return () => clearTimeout(timer);
}
