/**
 * Exclusive locks on byte ranges. Used only when the server has a minimum block size
 * above 1: an unaligned write becomes read-modify-write of its edge blocks, and a
 * concurrent write to the other bytes of such a block must not be undone by it (the
 * BlockDevice contract: non-overlapping writes never disturb each other). Every
 * data-changing request then holds its range, rounded out to blocks, while it runs.
 */
export class RangeLock {
  private readonly held = new Set<{ start: number; end: number; released: Promise<void> }>();

  /** Wait until [start, end) overlaps no held range, take it, and return its release. */
  async lock(start: number, end: number): Promise<() => void> {
    for (;;) {
      const clash = [...this.held].find((h) => h.start < end && start < h.end);
      if (clash === undefined) break;
      await clash.released;
    }
    let release!: () => void;
    const entry = { start, end, released: new Promise<void>((resolve) => (release = resolve)) };
    this.held.add(entry);
    return () => {
      this.held.delete(entry);
      release();
    };
  }
}
