// SPEC Fig. 10's timing as pure arithmetic: daily, weekly and monthly runs (months keep
// the start's day, clamped), a past start moves forward, maxRuns ends a setting, a
// one shot runs once, missed runs are not made up one by one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Schedule } from '../../../src/manager/db/types.js';
import { firstRun, nextRun, occurrence } from '../../../src/manager/schedule.js';

const t = (s: string) => Date.parse(s);
const iso = (n: number | null) => (n === null ? null : new Date(n).toISOString());

describe('schedule', () => {
  it('places daily, weekly and monthly runs', () => {
    const daily: Schedule = { kind: 'daily', start: '2026-01-01T02:00:00.000Z', interval: 2, maxRuns: null };
    assert.equal(iso(occurrence(daily, 3)), '2026-01-07T02:00:00.000Z');
    const weekly: Schedule = {
      kind: 'weekly',
      start: '2026-01-01T02:00:00.000Z',
      interval: 1,
      maxRuns: null,
    };
    assert.equal(iso(occurrence(weekly, 2)), '2026-01-15T02:00:00.000Z');
    const monthly: Schedule = {
      kind: 'monthly',
      start: '2026-01-31T23:30:00.000Z',
      interval: 1,
      maxRuns: null,
    };
    assert.deepEqual(
      [1, 2, 3, 13].map((k) => iso(occurrence(monthly, k))),
      [
        '2026-02-28T23:30:00.000Z',
        '2026-03-31T23:30:00.000Z',
        '2026-04-30T23:30:00.000Z',
        '2027-02-28T23:30:00.000Z',
      ],
    );
  });

  it('starts a one shot now or at its time, and a periodic setting at its next occurrence', () => {
    const now = t('2026-05-10T12:00:00Z');
    assert.equal(firstRun({ kind: 'once', at: null }, now), now);
    assert.equal(firstRun({ kind: 'once', at: '2026-06-01T00:00:00Z' }, now), t('2026-06-01T00:00:00Z'));
    const past: Schedule = { kind: 'daily', start: '2026-05-01T03:00:00.000Z', interval: 1, maxRuns: null };
    assert.equal(iso(firstRun(past, now)), '2026-05-11T03:00:00.000Z');
    const monthly: Schedule = {
      kind: 'monthly',
      start: '2025-01-15T00:00:00.000Z',
      interval: 3,
      maxRuns: null,
    };
    assert.equal(iso(firstRun(monthly, now)), '2026-07-15T00:00:00.000Z');
  });

  it('moves on to the first run after now (missed runs are not made up) and stops at maxRuns', () => {
    const s: Schedule = { kind: 'daily', start: '2026-01-01T00:00:00.000Z', interval: 1, maxRuns: 5 };
    assert.equal(iso(nextRun(s, 1, t('2026-01-01T00:00:00Z'))), '2026-01-02T00:00:00.000Z');
    assert.equal(iso(nextRun(s, 2, t('2026-01-04T09:00:00Z'))), '2026-01-05T00:00:00.000Z');
    assert.equal(nextRun(s, 5, t('2026-01-05T00:00:00Z')), null);
    assert.equal(nextRun({ kind: 'once', at: null }, 1, 0), null);
  });
});
