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
 * hashed again, as before.
 *
 * Memory: 32 bytes of hash, 8 of place and a map entry a grain (about 66 bytes), with one
 * budget for the whole node (MEMO_GRAINS: a failback of many volumes shares it). A read
 * that would pass it first drops what other memos kept more than STALE_MS ago (a copy
 * whose verify never came: a failed failback, a verify of every block); if it still would,
 * it keeps nothing. A memo that empties gives its memory back; a deleted volume's is
 * emptied.
 */

/** Grains kept at most on a node: 2 GiB of 4 KiB grains, about 35 MB (measured: 14 MB of map, 20 of arrays). */
export const MEMO_GRAINS = 1 << 19;

/** Kept hashes older than this give way to a new copy's: a verify follows its copy within seconds. */
export const STALE_MS = 10 * 60_000;

/** Grains kept or being read, against a cap; shared by the memos of one node. */
export class MemoBudget {
  used = 0;
  /** The memos holding hashes. */
  readonly holders = new Set<GrainHashMemo>();

  constructor(
    readonly cap = MEMO_GRAINS,
    readonly now: () => number = Date.now,
  ) {}

  /** Room for `n` more, dropping what memos kept before STALE_MS ago if need be. */
  reserve(n: number): boolean {
    if (this.used + n > this.cap) {
      const before = this.now() - STALE_MS;
      for (const m of [...this.holders]) if (m.keptAt < before) m.clear();
    }
    if (this.used + n > this.cap) return false;
    this.used += n;
    return true;
  }
}

const NODE_BUDGET = new MemoBudget();

const HASH = 32;

export class GrainHashMemo {
  /** Grain -> its slot in `hashes` and `places`. */
  private readonly slots = new Map<number, number>();
  private hashes = Buffer.alloc(0);
  /** Where each slot's grain was read: pool block x block size + byte in it (see io.ts `unitWhere`). */
  private places = new Float64Array(0);
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  /** When a hash was last kept (the budget's clock). */
  keptAt = 0;
  /** Grains that reads in flight will keep, and how many such reads. */
  private readonly reading = new Map<number, number>();
  /** Grains written while a read of them was in flight: that read keeps nothing of them. */
  private readonly spoiled = new Set<number>();

  constructor(private readonly budget: MemoBudget = NODE_BUDGET) {}

  /** Hashes kept (for tests and stats). */
  get size(): number {
    return this.slots.size;
  }

  /** Grains [first, first + count) are about to change (their blocks are locked). */
  spoil(first: number, count: number): void {
    if (this.slots.size === 0 && this.reading.size === 0) return;
    const end = first + count;
    if (count <= this.slots.size + this.reading.size) {
      for (let g = first; g < end; g++) {
        this.drop(g);
        if (this.reading.has(g)) this.spoiled.add(g);
      }
      return;
    }
    // A long write over few kept grains: walk the grains instead of the range.
    for (const g of [...this.slots.keys()]) if (g >= first && g < end) this.drop(g);
    for (const g of this.reading.keys()) if (g >= first && g < end) this.spoiled.add(g);
  }

  /**
   * A read of `grains` starts (none of their blocks locked: the caller checked). False,
   * and nothing registered, when keeping them would pass the node's budget.
   */
  begin(grains: readonly number[]): boolean {
    if (grains.length === 0 || !this.budget.reserve(grains.length)) return false;
    for (const g of grains) this.reading.set(g, (this.reading.get(g) ?? 0) + 1);
    return true;
  }

  /**
   * The read that `begin` registered has ended: with `hashes` (32 bytes a grain, in the
   * order given), keep those not spoiled meanwhile; without (the read failed), keep nothing.
   */
  end(grains: readonly number[], where: readonly number[], hashes: Uint8Array | null): void {
    this.budget.used -= grains.length; // what is kept is counted again as it is kept
    if (hashes) this.keptAt = this.budget.now();
    for (let i = 0; i < grains.length; i++) {
      const g = grains[i];
      if (hashes && !this.spoiled.has(g)) this.keep(g, where[i], hashes.subarray(i * HASH, (i + 1) * HASH));
      const left = (this.reading.get(g) ?? 1) - 1;
      if (left > 0) this.reading.set(g, left);
      else {
        this.reading.delete(g);
        this.spoiled.delete(g);
      }
    }
  }

  /**
   * The hash kept for `grain`, copied into `out` at `at`, if its bytes are still where
   * they were read: true; given out once. Into the caller's buffer: a verify asks for
   * 20,000 of them in a row, in a secondary whose code for it has never run.
   */
  take(grain: number, where: number, out: Buffer, at: number): boolean {
    const slot = this.slots.get(grain);
    if (slot === undefined) return false;
    const hit = this.places[slot] === where;
    if (hit) this.hashes.copy(out, at, slot * HASH, (slot + 1) * HASH);
    this.drop(grain);
    return hit;
  }

  /** Forget every kept hash (the volume is gone, or they went stale); reads in flight go on. */
  clear(): void {
    this.budget.used -= this.slots.size;
    this.slots.clear();
    this.release();
  }

  private keep(grain: number, where: number, hash: Uint8Array): void {
    let slot = this.slots.get(grain);
    if (slot === undefined) {
      slot = this.freeSlots.pop() ?? this.nextSlot++;
      if (slot >= this.places.length) this.grow(slot + 1);
      this.slots.set(grain, slot);
      this.budget.used++;
      this.budget.holders.add(this);
    }
    this.hashes.set(hash, slot * HASH);
    this.places[slot] = where;
  }

  private drop(grain: number): void {
    const slot = this.slots.get(grain);
    if (slot === undefined) return;
    this.slots.delete(grain);
    this.budget.used--;
    if (this.slots.size > 0) this.freeSlots.push(slot);
    else this.release();
  }

  /** Empty: give the memory back. */
  private release(): void {
    this.hashes = Buffer.alloc(0);
    this.places = new Float64Array(0);
    this.freeSlots.length = 0;
    this.nextSlot = 0;
    this.budget.holders.delete(this);
  }

  private grow(slots: number): void {
    const n = Math.max(slots, this.places.length * 2, 1024);
    const hashes = Buffer.alloc(n * HASH);
    this.hashes.copy(hashes);
    const places = new Float64Array(n);
    places.set(this.places);
    this.hashes = hashes;
    this.places = places;
  }
}
