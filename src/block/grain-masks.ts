/**
 * Which parts of a marked block changed: a refinement of a BlockSet below its block.
 *
 * A block is cut into grains (4 KiB, or blockSize / 32 when that is larger, so a block's
 * grains fit one u32 mask). A block set says which blocks changed; a GrainMasks beside
 * it says, for some of them, which grains: a block of the set with no mask here changed
 * as a whole. So a scattered 4 KiB write into a 64 KiB block costs an incremental backup
 * 4 KiB, not the block (docs/formats/backup.md, "Partial entries").
 *
 * Safe by construction: forgetting a mask makes its block whole, which only ever sends
 * more. That is how a volume keeps them (volume/state.ts): in memory only, so after a
 * restart every block marked before it counts whole; and past MAX_MASKS partly changed
 * blocks new ones are recorded whole.
 */
import { BlockSet } from './block-set.js';

/** The smallest grain tracked. */
export const MIN_GRAIN_BYTES = 4096;
/** Most grains in a block: one u32 mask. */
export const MAX_GRAINS = 32;
/**
 * Blocks with a mask kept at most, per bitmap: a Map entry each, some 40 bytes, so about
 * 10 MiB; 16 GiB of scattered small writes into 64 KiB blocks between two backups.
 */
export const MAX_MASKS = 1 << 18;

/** The grain of a block size: 0 when a block is a single grain (nothing to refine). */
export function grainBytesOf(blockSizeBytes: number): number {
  const grain = Math.max(MIN_GRAIN_BYTES, blockSizeBytes / MAX_GRAINS);
  return grain < blockSizeBytes && blockSizeBytes % grain === 0 ? grain : 0;
}

/** The mask of every grain of a block of `grains` grains (1-32). */
export function fullMask(grains: number): number {
  return grains >= 32 ? 0xffffffff : 2 ** grains - 1;
}

/** Call `fn(g0, g1)` for each run [g0, g1) of set bits of a grain mask, in order. */
export function grainRuns(mask: number, fn: (g0: number, g1: number) => void): void {
  for (let g = 0; g < 32; ) {
    if (!((mask >>> g) & 1)) {
      g++;
      continue;
    }
    let e = g + 1;
    while (e < 32 && (mask >>> e) & 1) e++;
    fn(g, e);
    g = e;
  }
}

/** Bits set in a u32. */
export function popcount32(x: number): number {
  let v = x >>> 0;
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

export class GrainMasks {
  /** Grain size in bytes; 0 when the block size has no grains (every mark is whole). */
  readonly grainBytes: number;
  /** The mask of a whole block. */
  readonly full: number;
  private masks = new Map<number, number>();

  constructor(readonly blockSizeBytes: number) {
    this.grainBytes = grainBytesOf(blockSizeBytes);
    const n = this.grainBytes ? blockSizeBytes / this.grainBytes : 1;
    this.full = fullMask(n);
  }

  /** Blocks with a mask (partly changed). */
  get size(): number {
    return this.masks.size;
  }

  /**
   * The grains of block `block` that bytes [offset, offset + length) touch (the range
   * must touch the block); `full` when they cover it or the block has no grains.
   */
  maskOfRange(block: number, offset: number, length: number): number {
    if (!this.grainBytes) return this.full;
    const bs = this.blockSizeBytes;
    const from = Math.max(offset, block * bs) - block * bs;
    const to = Math.min(offset + length, (block + 1) * bs) - block * bs;
    if (to <= from) return 0;
    const g0 = Math.floor(from / this.grainBytes);
    const g1 = Math.ceil(to / this.grainBytes);
    const width = g1 - g0;
    return width >= 32 ? this.full : (((1 << width) - 1) << g0) >>> 0;
  }

  /** The grains of a block of the set: its mask, or `full` when it has none (whole). */
  maskOf(block: number): number {
    return this.masks.get(block) ?? this.full;
  }

  /** Partly changed blocks and their masks, in no particular order. */
  entries(): IterableIterator<[number, number]> {
    return this.masks.entries();
  }

  /**
   * Record that grains `mask` of `block` changed. `wasSet`: the block was in the set
   * before this mark (then no mask means whole, and stays whole).
   */
  mark(block: number, mask: number, wasSet: boolean): void {
    const m = mask >>> 0;
    if (!wasSet) {
      if (m !== this.full && m !== 0 && this.masks.size < MAX_MASKS) this.masks.set(block, m);
      else this.masks.delete(block);
      return;
    }
    const had = this.masks.get(block);
    if (had === undefined) return; // whole already
    const now = (had | m) >>> 0;
    if (now === this.full) this.masks.delete(block);
    else this.masks.set(block, now);
  }

  /** Blocks [start, start + count) changed as a whole. */
  markWhole(start: number, count: number): void {
    if (this.masks.size === 0) return;
    if (count > this.masks.size) {
      for (const b of [...this.masks.keys()]) if (b >= start && b < start + count) this.masks.delete(b);
    } else for (let b = start; b < start + count; b++) this.masks.delete(b);
  }

  /**
   * Fold `other` in, as BlockSet.union folds its set: `mine(b)` and `theirs(b)` say
   * whether this set and the other hold block b (asked before the sets are united).
   * A block whole in either is whole; partly changed in both, the union of the masks.
   */
  union(other: GrainMasks, mine: (b: number) => boolean, theirs: (b: number) => boolean): void {
    for (const [b, m] of other.masks) this.mark(b, m, mine(b));
    for (const b of [...this.masks.keys()]) if (!other.masks.has(b) && theirs(b)) this.masks.delete(b);
  }

  /** Drop masks of blocks at or past `sizeBlocks` (a shrink). */
  truncate(sizeBlocks: number): void {
    for (const b of [...this.masks.keys()]) if (b >= sizeBlocks) this.masks.delete(b);
  }

  clear(): void {
    this.masks.clear();
  }

  clone(): GrainMasks {
    const c = new GrainMasks(this.blockSizeBytes);
    c.masks = new Map(this.masks);
    return c;
  }
}

/**
 * Bitmap `set` of `blockBytes` blocks at the grain of `masks`: bit i = grain i of the
 * device. A block with a mask gives its grains, one without all of its grains.
 */
export function grainSet(set: BlockSet, masks: GrainMasks, sizeBytes: number): BlockSet {
  const grain = masks.grainBytes || masks.blockSizeBytes;
  const per = masks.blockSizeBytes / grain;
  const out = new BlockSet(Math.ceil(sizeBytes / grain));
  for (const run of set.runs()) {
    for (let b = run.start; b < run.start + run.count; ) {
      const mask = masks.maskOf(b);
      if (mask === masks.full) {
        // A run of whole blocks: one range.
        let e = b + 1;
        while (e < run.start + run.count && masks.maskOf(e) === masks.full) e++;
        const first = b * per;
        out.addRange(first, Math.min(e * per, out.sizeBlocks) - first);
        b = e;
        continue;
      }
      for (let g = 0; g < per; g++)
        if ((mask >>> g) & 1 && b * per + g < out.sizeBlocks) out.add(b * per + g);
      b++;
    }
  }
  return out;
}

/**
 * `set` of `from`-byte units as a set of `to`-byte units, one a multiple of the other,
 * over `sizeBytes`: a coarse unit is set when any fine unit in it is (a superset, never
 * less).
 */
export function regrid(set: BlockSet, from: number, to: number, sizeBytes: number): BlockSet {
  if (from === to) return set;
  const out = new BlockSet(Math.ceil(sizeBytes / to));
  for (const run of set.runs()) {
    const first = Math.floor((run.start * from) / to);
    const end = Math.min(Math.ceil(((run.start + run.count) * from) / to), out.sizeBlocks);
    if (end > first) out.addRange(first, end - first);
  }
  return out;
}
