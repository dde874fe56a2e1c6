/**
 * The manager's one source of time and timers (STYLE.md point 10). Everything that reads
 * the time or waits (the health poller, token expiry, audit and event timestamps, later
 * the scheduler) takes a Clock, so tests drive time with a ManualClock instead of
 * sleeping.
 */

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Run `fn` once after `delayMs`; cancel() before then stops it. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, delayMs) {
    const t = setTimeout(fn, delayMs);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

export function isoTime(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}

/**
 * A clock that moves only when told: `advance(ms)` fires, in time order, every timer
 * that falls due (timers set by those callbacks too, when they fall inside the step).
 */
export class ManualClock implements Clock {
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;

  constructor(private time = Date.parse('2025-01-01T00:00:00Z')) {}

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const timer = { at: this.time + Math.max(0, delayMs), seq: this.seq++, fn };
    this.timers.push(timer);
    return { cancel: () => this.timers.splice(this.timers.indexOf(timer) >>> 0, 1) };
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.timers.length;
  }

  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > until) break;
      this.timers.shift();
      this.time = next.at;
      next.fn();
    }
    this.time = until;
  }
}
