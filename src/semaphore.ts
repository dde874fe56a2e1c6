/**
 * A counting semaphore: at most `limit` runs at once, the rest wait in FIFO order. The
 * object stores keep a backup with thousands of parallel puts from opening thousands of
 * sockets or file descriptors at once; the copy engine bounds its batches in flight.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`semaphore limit ${limit} < 1`);
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // Hand the slot straight to the next waiter: `active` stays the same.
      if (next) next();
      else this.active--;
    }
  }
}
