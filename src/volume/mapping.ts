/**
 * A mapping table (the patent's "mapping table 400"): volume block -> pool block, 0 for
 * unmapped. Chunked Uint32Arrays allocated on first use, so a huge thin volume costs one
 * array slot per 4096 blocks until it is written.
 */
const CHUNK_SHIFT = 12;
const CHUNK = 1 << CHUNK_SHIFT;
const MASK = CHUNK - 1;

export class MappingTable {
  private chunks: (Uint32Array | undefined)[] = [];
  /** Number of mapped blocks. */
  mapped = 0;

  get(lba: number): number {
    const c = this.chunks[lba >>> CHUNK_SHIFT];
    return c === undefined ? 0 : c[lba & MASK];
  }

  /** Set a mapping; returns the old pool block (0 when there was none). */
  set(lba: number, pbn: number): number {
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
    return t;
  }
}
