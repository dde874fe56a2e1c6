/**
 * Per-block locks of one volume: requests touching the same volume block run one after
 * the other (an allocation, a copy-on-write, a trim), requests on different blocks run
 * in parallel. A request takes all its blocks in one synchronous step, so two requests
 * can never each hold a block the other waits for.
 */
export class BlockLocks {
  private readonly tails = new Map<number, Promise<void>>();

  /** Whether block `b` is locked or waited for (a write to it is under way). */
  held(b: number): boolean {
    return this.tails.has(b);
  }

  /** Lock blocks [start, start + count); resolves with the release function. */
  async acquire(start: number, count: number): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    let waits: Promise<void>[] | null = null;
    let single: Promise<void> | undefined;
    for (let b = start; b < start + count; b++) {
      const prev = this.tails.get(b);
      this.tails.set(b, mine);
      if (prev) {
        if (single === undefined) single = prev;
        else {
          waits ??= [single];
          waits.push(prev);
        }
      }
    }
    if (waits) await Promise.all(waits);
    else if (single) await single;
    return () => {
      for (let b = start; b < start + count; b++) if (this.tails.get(b) === mine) this.tails.delete(b);
      release();
    };
  }
}
