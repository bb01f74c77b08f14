import { afterEach, describe, expect, it, vi } from 'vitest';
import { describeSchedule, followSchedule, isOpen, nextChange, parseSchedule } from '../../server/agent/schedule.ts';

// Local times: Thursday 3 December 2026 and the days around it.
const at = (day: number, hh: number, mm = 0) => new Date(2026, 11, day, hh, mm);

describe('the contribution schedule', () => {
  afterEach(() => vi.useRealTimers());

  it('opens in its windows only, a night crossing midnight included', () => {
    const night = parseSchedule('22:00-07:00');
    expect([at(3, 21, 59), at(3, 22), at(4, 3), at(4, 6, 59), at(4, 7), at(4, 12)].map((t) => isOpen(night, t))).toEqual([false, true, true, true, false, false]);
    const week = parseSchedule('mon-fri 18:00-08:00, sat-sun');
    // Thu 3rd 17:00 no; Thu 19:00 yes; Fri 4th 07:00 (Thursday's night) yes; Fri 12:00 no; Sat 5th all day; Mon 7th 07:00 (Sunday's whole day ended at midnight, no Monday night yet) no.
    expect([at(3, 17), at(3, 19), at(4, 7), at(4, 12), at(5, 12), at(6, 23, 59), at(7, 7)].map((t) => isOpen(week, t))).toEqual([false, true, true, false, true, true, false]);
    // Friday night runs into Saturday: "fri 22:00-02:00" is open at Sat 01:00, not at Fri 01:00.
    const friday = parseSchedule('fri 22:00-02:00');
    expect([isOpen(friday, at(5, 1)), isOpen(friday, at(4, 1))]).toEqual([true, false]);
  });

  it('knows the next change and says it in words', () => {
    const night = parseSchedule('22:00-07:00');
    expect(nextChange(night, at(3, 12, 30))).toEqual(at(3, 22));
    expect(nextChange(night, at(3, 23))).toEqual(at(4, 7));
    expect(describeSchedule(night, at(3, 19, 48))).toBe('schedule "22:00-07:00": paused until 22:00 (in 2 h 12 min)');
    expect(describeSchedule(night, at(3, 23))).toBe('schedule "22:00-07:00": working until fri 07:00 (in 8 h)');
    expect(nextChange(parseSchedule('mon-sun'), at(3, 12))).toBeNull();
  });

  it('refuses what is not a schedule, saying which part and how to write it', () => {
    expect(() => parseSchedule('')).toThrow('The schedule is empty: for example "22:00-07:00", "mon-fri 18:00-08:00, sat-sun" or "sat-sun".');
    expect(() => parseSchedule('22:00-7')).toThrow('"7" in the schedule "22:00-7" is not a time of day: write HH:MM, from 00:00 to 24:00.');
    expect(() => parseSchedule('nights')).toThrow('"nights" in the schedule "nights" is not a day: write mon, tue, wed, thu, fri, sat or sun.');
    expect(() => parseSchedule('10:00-10:00')).toThrow('"10:00-10:00" in the schedule "10:00-10:00" is empty: it starts when it ends.');
    expect(() => parseSchedule('mon 09:00-10:00 extra')).toThrow(/is not a window/);
  });

  it('follows the clock: says open or closed now, then again at each change', () => {
    vi.useFakeTimers();
    vi.setSystemTime(at(3, 21, 59, ));
    const seen: [boolean, number][] = [];
    const stop = followSchedule(parseSchedule('22:00-07:00'), (open, when) => seen.push([open, when.getHours()]));
    expect(seen).toEqual([[false, 21]]);
    vi.advanceTimersByTime(2 * 60_000);
    expect(seen).toEqual([[false, 21], [true, 22]]);
    vi.advanceTimersByTime(9 * 3_600_000);
    expect(seen).toEqual([[false, 21], [true, 22], [false, 7]]);
    stop();
  });
});
