/**
 * Hashes of a volume's grains as a failback's copy read them, so its verify need not read
 * them again at the source (SPEC S606 and DESIGN "Verify": only hashes cross the network).
 *
 * A delta copy reads every changed grain of the secondary once, in a read worker that then
 * hashes what it read (SHA-256, as the verify does); the verify asks for the hashes of the
 * same grains moments later. Reading and hashing them a second time was a third of the
 * verify's CPU on both nodes together (bench:failback, 8 GiB, 1% changed), and new code to
 * compile in a secondary that has never verified before. The destination still reads back
 * and hashes what it holds: the proof is "the primary holds what the copy read here".
 *
 * A kept hash is given out only while it still describes the grain:
 *   - every write, zeroing and trim spoils the grains it touches once it holds their block
 *     locks, before any byte changes: kept hashes are dropped, and a read still in flight
 *     over them keeps nothing of them;
 *   - a read starting while a block is locked keeps nothing of that block's grains (a
 *     write in progress may land before or after the worker reads);
 *   - each hash carries where the grain's bytes were (pool block and byte) and is given
 *     out only if the volume's mapping still points there: whatever moves a grain without
 *     a write (a revert, a resize, an overlay folded) makes it a miss.
 * A hash is given out once (`take`); what is not kept, or no longer valid, is read and
 * hashed again, as before. Memory is bounded (MEMO_GRAINS); past it, nothing more is kept.
 */

/** Grains kept at most per volume: 1 GiB of 4 KiB grains, some 30 MB of hashes and entries. */
export const MEMO_GRAINS = 1 << 18;

interface Kept {
  hash: Buffer;
  /** Where the grain's bytes were when read: pool block x block size + byte in it (see `where`). */
  where: number;
}

export class GrainHashMemo {
  private readonly kept = new Map<number, Kept>();
  /** Grains that reads in flight will keep, and how many such reads. */
  private readonly reading = new Map<number, number>();
  /** Grains written while a read of them was in flight: that read keeps nothing of them. */
  private readonly spoiled = new Set<number>();

  constructor(private readonly cap = MEMO_GRAINS) {}

  /** Hashes kept (for tests and stats). */
  get size(): number {
    return this.kept.size;
  }

  /** Grains [first, first + count) are about to change (their blocks are locked). */
  spoil(first: number, count: number): void {
    if (this.kept.size === 0 && this.reading.size === 0) return;
    const end = first + count;
    if (count <= this.kept.size + this.reading.size) {
      for (let g = first; g < end; g++) {
        this.kept.delete(g);
        if (this.reading.has(g)) this.spoiled.add(g);
      }
      return;
    }
    // A long write over few kept grains: walk the grains instead of the range.
    for (const g of this.kept.keys()) if (g >= first && g < end) this.kept.delete(g);
    for (const g of this.reading.keys()) if (g >= first && g < end) this.spoiled.add(g);
  }

  /**
   * A read of `grains` starts (none of their blocks locked: the caller checked). False,
   * and nothing registered, when keeping them would pass the cap.
   */
  begin(grains: readonly number[]): boolean {
    if (grains.length === 0 || this.kept.size + this.reading.size + grains.length > this.cap) return false;
    for (const g of grains) this.reading.set(g, (this.reading.get(g) ?? 0) + 1);
    return true;
  }

  /**
   * The read that `begin` registered has ended: with `hashes` (32 bytes a grain, in the
   * order given, in a buffer of their own), keep those not spoiled meanwhile; without
   * (the read failed), keep nothing.
   */
  end(grains: readonly number[], where: readonly number[], hashes: Buffer | null): void {
    for (let i = 0; i < grains.length; i++) {
      const g = grains[i];
      if (hashes && !this.spoiled.has(g))
        this.kept.set(g, { hash: hashes.subarray(i * 32, i * 32 + 32), where: where[i] });
      const left = (this.reading.get(g) ?? 1) - 1;
      if (left > 0) this.reading.set(g, left);
      else {
        this.reading.delete(g);
        this.spoiled.delete(g);
      }
    }
  }

  /** The hash kept for `grain` if its bytes are still where they were read; given out once. */
  take(grain: number, where: number): Buffer | undefined {
    const k = this.kept.get(grain);
    if (k === undefined) return undefined;
    this.kept.delete(grain);
    return k.where === where ? k.hash : undefined;
  }
}
