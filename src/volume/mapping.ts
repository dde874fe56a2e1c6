/**
 * A mapping table (the patent's "mapping table 400"): volume block -> pool block, 0 for
 * unmapped. Chunked Uint32Arrays allocated on first use, so a huge thin volume costs one
 * array slot per 4096 blocks until it is written.
 *
 * A block may also be an overlay (copy-on-write at the grain, io.ts): its mapped pool block
 * holds the grains of `mask`, and `base`, a block a snapshot shares, holds the others. The
 * table then references both blocks (eachRef).
 */
const CHUNK_SHIFT = 12;
const CHUNK = 1 << CHUNK_SHIFT;
const MASK = CHUNK - 1;

/** A partly rewritten block: the grains of `mask` are in the mapped block, the others in `base`. */
export interface Overlay {
  base: number;
  mask: number;
}

export class MappingTable {
  private chunks: (Uint32Array | undefined)[] = [];
  private overlays = new Map<number, Overlay>();
  /** Number of mapped blocks. */
  mapped = 0;

  /** The overlay of a mapped block, if it is one. */
  overlay(lba: number): Overlay | undefined {
    return this.overlays.size === 0 ? undefined : this.overlays.get(lba);
  }

  get overlayCount(): number {
    return this.overlays.size;
  }

  /** Map `lba` to `pbn` as an overlay on `base`; returns the old pool block (see set). */
  setOverlay(lba: number, pbn: number, base: number, mask: number): number {
    const old = this.set(lba, pbn);
    this.overlays.set(lba, { base, mask });
    return old;
  }

  get(lba: number): number {
    const c = this.chunks[lba >>> CHUNK_SHIFT];
    return c === undefined ? 0 : c[lba & MASK];
  }

  /**
   * Set a plain mapping; returns the old pool block (0 when there was none). An overlay of
   * `lba` is dropped: a caller dropping references reads overlay(lba) first, for its base.
   */
  set(lba: number, pbn: number): number {
    if (this.overlays.size > 0) this.overlays.delete(lba);
    const ci = lba >>> CHUNK_SHIFT;
    let c = this.chunks[ci];
    if (c === undefined) {
      if (pbn === 0) return 0;
      c = new Uint32Array(CHUNK);
      this.chunks[ci] = c;
    }
    const old = c[lba & MASK];
    c[lba & MASK] = pbn;
    if (old === 0 && pbn !== 0) this.mapped++;
    else if (old !== 0 && pbn === 0) this.mapped--;
    return old;
  }

  /** Every mapping, in block order. */
  each(fn: (lba: number, pbn: number) => void): void {
    for (let ci = 0; ci < this.chunks.length; ci++) {
      const c = this.chunks[ci];
      if (c === undefined) continue;
      const base = ci << CHUNK_SHIFT;
      for (let i = 0; i < CHUNK; i++) if (c[i] !== 0) fn(base + i, c[i]);
    }
  }

  /** Every pool block the table references: each mapped block, and each overlay's base. */
  eachRef(fn: (pbn: number) => void): void {
    this.each((_lba, pbn) => fn(pbn));
    for (const o of this.overlays.values()) fn(o.base);
  }

  /** Every overlay, by volume block. */
  eachOverlay(fn: (lba: number, pbn: number, overlay: Overlay) => void): void {
    for (const [lba, o] of this.overlays) fn(lba, this.get(lba), o);
  }

  /** First mapped block in [from, end), or end. */
  nextMapped(from: number, end: number): number {
    let b = from;
    while (b < end) {
      const c = this.chunks[b >>> CHUNK_SHIFT];
      if (c === undefined) {
        b = ((b >>> CHUNK_SHIFT) + 1) << CHUNK_SHIFT;
        continue;
      }
      if (c[b & MASK] !== 0) return b;
      b++;
    }
    return end;
  }

  /** A copy sharing nothing with this table (a snapshot's table). */
  clone(): MappingTable {
    const t = new MappingTable();
    t.chunks = this.chunks.map((c) => (c === undefined ? undefined : c.slice()));
    t.mapped = this.mapped;
    for (const [lba, o] of this.overlays) t.overlays.set(lba, { ...o });
    return t;
  }
}

/**
 * Where bytes [inBlock, inBlock + length) of block `lba` are: `fn(pbn, at, n)` for each
 * piece, in order, with `at` the byte in that pool block. One piece for a plain block; an
 * overlay's pieces alternate between its block and its base, a run of grains each.
 */
export function eachSource(
  table: MappingTable,
  lba: number,
  inBlock: number,
  length: number,
  grainBytes: number,
  fn: (pbn: number, at: number, n: number) => void,
): void {
  const pbn = table.get(lba);
  const o = pbn === 0 ? undefined : table.overlay(lba);
  if (o === undefined) {
    fn(pbn, inBlock, length);
    return;
  }
  const end = inBlock + length;
  let pos = inBlock;
  while (pos < end) {
    const g = Math.floor(pos / grainBytes);
    const mine = (o.mask >>> g) & 1;
    let stop = (g + 1) * grainBytes;
    while (stop < end && ((o.mask >>> (stop / grainBytes)) & 1) === mine) stop += grainBytes;
    stop = Math.min(stop, end);
    fn(mine ? pbn : o.base, pos, stop - pos);
    pos = stop;
  }
}
