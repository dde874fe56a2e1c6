/**
 * SPEC Fig. 10's timing as pure functions of time (no clock, no I/O), so the scheduler's
 * arithmetic is tested on its own. A periodic setting's runs fall at
 * `start + k * interval` days, weeks or months (k = 0, 1, ...); months keep the start's
 * day of the month, clamped to the month's last day (a setting started on the 31st runs
 * on 30 April and 28 or 29 February).
 */
import type { Schedule } from './db/types.js';

const DAY = 86_400_000;

/** The k-th planned run of a periodic schedule, in ms since the epoch. */
export function occurrence(s: Extract<Schedule, { start: string }>, k: number): number {
  const start = Date.parse(s.start);
  if (s.kind === 'daily') return start + k * s.interval * DAY;
  if (s.kind === 'weekly') return start + k * s.interval * 7 * DAY;
  const d = new Date(start);
  const months = d.getUTCMonth() + k * s.interval;
  const year = d.getUTCFullYear() + Math.floor(months / 12);
  const month = ((months % 12) + 12) % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(
    year,
    month,
    Math.min(d.getUTCDate(), lastDay),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    d.getUTCMilliseconds(),
  );
}

/** The first planned run of a new setting: a past periodic start moves to its next occurrence. */
export function firstRun(s: Schedule, now: number): number {
  if (s.kind === 'once') return s.at === null ? now : Date.parse(s.at);
  return firstOccurrenceFrom(s, now);
}

/**
 * The planned run after one that has just been claimed at `now`, having made `runs` runs
 * in all; null when the setting has no more to run (a one shot, or maxRuns reached).
 * Runs missed meanwhile are not made up one by one: the next is the first after now.
 */
export function nextRun(s: Schedule, runs: number, now: number): number | null {
  if (s.kind === 'once') return null;
  if (s.maxRuns !== null && runs >= s.maxRuns) return null;
  return firstOccurrenceFrom(s, now + 1);
}

function firstOccurrenceFrom(s: Extract<Schedule, { start: string }>, t: number): number {
  const start = Date.parse(s.start);
  if (t <= start) return start;
  const unit = s.kind === 'daily' ? DAY : s.kind === 'weekly' ? 7 * DAY : 28 * DAY;
  // An estimate of k from below (months are at least 28 days), then step forward.
  let k = Math.max(0, Math.floor((t - start) / (unit * s.interval)) - 1);
  if (s.kind === 'monthly') k = Math.max(0, Math.floor((t - start) / (31 * DAY) / s.interval) - 1);
  while (occurrence(s, k) < t) k++;
  return occurrence(s, k);
}
