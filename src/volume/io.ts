/**
 * The data path: reads, writes, zeroes and trims of a volume on the pool.
 *
 * Write of volume block b (under b's lock, after the bitmap marks are durable):
 *   - b maps pool block p and nobody else maps p  -> write in place;
 *   - otherwise (unmapped, or p shared with a snapshot) -> take a new block q, write the
 *     whole block there (old contents or zeros, plus the new bytes, so no stale byte of
 *     q's past can ever show), then map b -> q and drop the reference to p.
 * The Map record is appended only once the data write has completed, and the log syncs
 * the drives before writing any batch holding Map records: a mapping is never durable
 * before the data it points to.
 *
 * Bitmaps: before any data of a request is written, the blocks it touches are set in
 * every active bitmap of the volume and the Mark record is committed (group commit;
 * only the first write to a block after a freeze or clear pays). Writers whose bits were
 * set by a mark not yet durable wait for it too.
 *
 * Journal (while a pair is active, types.ts JournalSink): once a write, zero or trim has
 * changed the volume, and before its block locks are released, its record is passed to
 * the volume's sink; the request resolves when the volume and the sink are both done.
 * Overlapping requests hold the same locks, so the journal has them in the volume's
 * order; a request that failed before changing anything passes nothing.
 *
 * Every request counts as in flight in the allocator's I/O epochs, so a block freed
 * while an older read still uses it is not handed out again before that read ends.
 */
import type { ByteRange, Extent, ZeroOptions } from '../block/device.js';
import { fullMask, grainBytesOf, grainRuns, popcount32 } from '../block/grain-masks.js';
import { ReboundError } from '../errors.js';
import type { Pool } from '../pool/index.js';
import { eachSource, type MappingTable, type Overlay } from './mapping.js';
import { planReads } from './read-plan.js';
import type { ReadWorkers } from './read-workers.js';
import { rec } from './records.js';
import type { Bitmap, Volume } from './state.js';

/** Wait for both (either may be absent); rejects with the first failure, leaves none unhandled. */
async function both(a: Promise<void> | undefined, b: Promise<void> | undefined): Promise<void> {
  if (a && b) await Promise.all([a, b]);
  else await (a ?? b);
}

/** A piece of a request inside one volume block. */
interface Piece {
  lba: number;
  inBlock: number;
  data: Buffer;
}

/**
 * Overlays a table keeps at most (a Map entry each, some 80 bytes: about 20 MiB); past it,
 * a partial write into a shared block copies the whole block, as without grains.
 */
const MAX_OVERLAYS = 1 << 18;

/**
 * Ranges a premark marks per turn of the event loop (VolumeIo.premark): about a
 * millisecond of this thread, so the failback's own connection, whose TLS handshake and
 * NBD negotiation are a handful of round trips, waits at most that long at each.
 */
const PREMARK_SLICE = 256;

/** At most this many extents per blockStatus answer (the contract allows a short answer). */
const MAX_EXTENTS = 4096;

export class VolumeIo {
  readonly blockSizeBytes: number;
  /** Copy-on-write grain (0: whole blocks only, a 4 KiB pool). */
  readonly grainBytes: number;
  /** The unit a delta copies and its verify hashes: the grain, or the block without grains. */
  readonly hashUnitBytes: number;
  private readonly fullMask: number;
  private readonly zeroBlock: Buffer;

  constructor(
    private readonly pool: Pool,
    private readonly readers: ReadWorkers,
  ) {
    this.blockSizeBytes = pool.blockSizeBytes;
    this.grainBytes = grainBytesOf(this.blockSizeBytes);
    this.hashUnitBytes = this.grainBytes || this.blockSizeBytes;
    this.fullMask = this.grainBytes === 0 ? 0 : fullMask(this.blockSizeBytes / this.grainBytes);
    this.zeroBlock = Buffer.alloc(this.blockSizeBytes);
  }

  async read(table: MappingTable, offset: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    await this.readInto(table, offset, out);
    return out;
  }

  /** Read `out.length` bytes at `offset` into `out` (holes as zeros). */
  async readInto(table: MappingTable, offset: number, out: Uint8Array): Promise<void> {
    const length = out.length;
    if (length === 0) return;
    const alloc = this.pool.allocator;
    const epoch = alloc.beginIo();
    try {
      const bs = this.blockSizeBytes;
      const drives = this.pool.drives;
      const ios: Promise<void>[] = [];
      // The run of physically contiguous blocks being gathered into one read.
      let runPbn = 0;
      let runLast = 0;
      let runIn = 0;
      let runAt = 0;
      let runLen = 0;
      const end = offset + length;
      let pos = offset;
      while (pos < end) {
        const lba = Math.floor(pos / bs);
        const inBlock = pos - lba * bs;
        const n = Math.min(bs - inBlock, end - pos);
        const pbn = table.get(lba);
        if (pbn === 0) {
          if (runLen > 0) ios.push(drives.read(runPbn, runIn, out, runAt, runLen));
          runLen = 0;
          out.fill(0, pos - offset, pos - offset + n);
        } else if (table.overlay(lba) !== undefined) {
          // Grains from the overlay's block and from its base: reads of their own.
          if (runLen > 0) ios.push(drives.read(runPbn, runIn, out, runAt, runLen));
          runLen = 0;
          const blockAt = pos - offset - inBlock;
          eachSource(table, lba, inBlock, n, this.grainBytes, (src, at, len) => {
            ios.push(drives.read(src, at, out, blockAt + at, len));
          });
        } else if (
          runLen > 0 &&
          inBlock === 0 &&
          (runIn + runLen) % bs === 0 &&
          drives.adjacent(runLast, pbn)
        ) {
          runLast = pbn;
          runLen += n;
        } else {
          if (runLen > 0) ios.push(drives.read(runPbn, runIn, out, runAt, runLen));
          runPbn = runLast = pbn;
          runIn = inBlock;
          runAt = pos - offset;
          runLen = n;
        }
        pos += n;
      }
      if (runLen > 0) ios.push(drives.read(runPbn, runIn, out, runAt, runLen));
      if (ios.length === 1) await ios[0];
      else await Promise.all(ios);
    } finally {
      alloc.endIo(epoch);
    }
  }

  /**
   * The bytes of several ranges (checked by the caller), back to back, read by a read
   * worker (read-workers.ts): one message for a batch of scattered blocks instead of a
   * thread-pool read each. Unmapped blocks read as zeros. Into `into` when it is shared
   * memory (ReadDataOptions.into), the worker writing it in place.
   */
  async readRanges(table: MappingTable, ranges: readonly ByteRange[], into?: Buffer): Promise<Buffer> {
    const { offsets, lengths } = rangeArrays(ranges);
    const alloc = this.pool.allocator;
    const epoch = alloc.beginIo(); // no block planned here is reused before the worker has read it
    try {
      return await this.readers.read(planReads(this.pool, table, offsets, lengths), sharedOnly(into));
    } finally {
      alloc.endIo(epoch);
    }
  }

  /**
   * readRanges of a delta copy's batch (VolumeDevice.readDataRanges with keepHashes; or
   * generation N+1's, from a snapshot of `v`: `table` is then the snapshot's): the read
   * worker also hashes each whole unit of `hashUnitBytes` it read, and those hashes are
   * kept in `v` for the verify (hash-memo.ts). Units of a locked block (a write under way)
   * are not kept, nor any once the memo is full.
   */
  async readRangesKeepingHashes(
    v: Volume,
    ranges: readonly ByteRange[],
    table: MappingTable = v.table,
    into?: Buffer,
  ): Promise<Buffer> {
    const u = this.hashUnitBytes;
    const bs = this.blockSizeBytes;
    const units: number[] = [];
    const hashAt: number[] = []; // where each unit's bytes are in the answer
    let at = 0;
    for (const { offset, length } of ranges) {
      for (let g = Math.ceil(offset / u); (g + 1) * u <= offset + length; g++) {
        if (v.rt.locks.held(Math.floor((g * u) / bs))) continue;
        units.push(g);
        hashAt.push(at + g * u - offset);
      }
      at += length;
    }
    // From here to the worker's job, nothing awaits: a write that locks a block after this
    // point spoils what this read would keep of it.
    const memo = v.rt.copyHashes;
    if (!memo.begin(units)) return this.readRanges(table, ranges, into);
    const where = units.map((g) => this.unitWhere(table, g));
    const alloc = this.pool.allocator;
    const epoch = alloc.beginIo(); // no block planned here is reused before the worker has read it
    let hashes: Buffer | null = null;
    try {
      const { offsets, lengths } = rangeArrays(ranges);
      const plan = planReads(this.pool, table, offsets, lengths);
      const r = await this.readers.readHashing(plan, Float64Array.from(hashAt), u, sharedOnly(into));
      hashes = r.hashes; // copied into the memo's own memory: the batch's bytes are not held
      return r.data;
    } finally {
      alloc.endIo(epoch);
      memo.end(units, where, hashes);
    }
  }

  /**
   * The hash kept by a delta copy's read for unit `unit` (of hashUnitBytes) of `v`, if it
   * still describes the unit (hash-memo.ts), copied into `out` at `at`: true; given out
   * once. None while a write holds or waits for the unit's block: it may change the unit
   * before it has spoiled the hash.
   */
  takeCopyHash(v: Volume, unit: number, out: Buffer, at: number): boolean {
    const where = v.rt.locks.held(Math.floor((unit * this.hashUnitBytes) / this.blockSizeBytes))
      ? -3 // matches no place: the kept hash is dropped, the unit read again
      : this.unitWhere(v.table, unit);
    return v.rt.copyHashes.take(unit, where, out, at);
  }

  /**
   * Where unit `unit`'s bytes are now: pool block x block size + byte in it (a pool block
   * of 0 is a hole), or -1 when they are in more than one piece.
   */
  private unitWhere(table: MappingTable, unit: number): number {
    const bs = this.blockSizeBytes;
    const pos = unit * this.hashUnitBytes;
    const lba = Math.floor(pos / bs);
    // Without an overlay the unit is in one piece (eachSource's first case, without its
    // callback: the verify asks this 20,000 times in a row in code that has never run).
    const pbn = table.get(lba);
    if (pbn === 0 || table.overlay(lba) === undefined) return pbn * bs + pos - lba * bs;
    let where = -2;
    eachSource(table, lba, pos - lba * bs, this.hashUnitBytes, this.grainBytes, (pbn, at) => {
      where = where === -2 ? pbn * bs + at : -1;
    });
    return where;
  }

  /** Blocks [first, first + count) are locked for a change: what a copy kept of them is stale. */
  private spoilHashes(v: Volume, first: number, count: number): void {
    const per = this.blockSizeBytes / this.hashUnitBytes;
    v.rt.copyHashes.spoil(first * per, count * per);
  }

  /** Wait out a snapshot/freeze barrier, then count a mutation in flight. */
  private async enter(v: Volume): Promise<number> {
    while (v.rt.barrier) await v.rt.barrier;
    if (v.deleted) throw new ReboundError('NOT_FOUND', `volume ${v.name} was deleted`);
    v.rt.mutating++;
    return this.pool.allocator.beginIo();
  }

  private leave(v: Volume, epoch: number): void {
    this.pool.allocator.endIo(epoch);
    v.rt.mutating--;
    v.rt.notify();
  }

  /** `direct`: the drives may write bypassing the page cache (WriteOptions.direct). */
  async write(v: Volume, offset: number, data: Buffer, fua: boolean, direct = false): Promise<void> {
    const epoch = await this.enter(v);
    try {
      const bs = this.blockSizeBytes;
      const first = Math.floor(offset / bs);
      const count = Math.floor((offset + data.length - 1) / bs) - first + 1;
      let journaled: Promise<void> | undefined;
      const release = await v.rt.locks.acquire(first, count);
      this.spoilHashes(v, first, count);
      try {
        await this.markDirty(v, first, count, offset, data.length);
        await this.writeLocked(v, this.pieces(offset, data), direct);
        // Still under the locks: the journal's order is the order writes were applied.
        journaled = v.rt.journal?.write(offset, data, fua);
      } finally {
        release();
      }
      await both(fua ? this.pool.flush() : undefined, journaled);
    } finally {
      this.leave(v, epoch);
    }
  }

  private pieces(offset: number, data: Buffer): Piece[] {
    const bs = this.blockSizeBytes;
    const out: Piece[] = [];
    let pos = offset;
    const end = offset + data.length;
    while (pos < end) {
      const lba = Math.floor(pos / bs);
      const inBlock = pos - lba * bs;
      const n = Math.min(bs - inBlock, end - pos);
      out.push({ lba, inBlock, data: data.subarray(pos - offset, pos - offset + n) });
      pos += n;
    }
    return out;
  }

  /**
   * The core write, with the blocks locked and marked. Each piece goes
   *   - in place: its block is mapped and nobody else maps it (into an overlay's block,
   *     its grains then join the overlay; all of them, and it is a plain block again);
   *   - into a new overlay: a partial piece into a block a snapshot shares, in a pool with
   *     grains: a new block gets the piece's grains only and the shared block stays as its
   *     base (copy-on-write at the grain: a 4 KiB write into a 64 KiB block copies 4 KiB);
   *   - into a new whole block: unmapped (zeros), a whole piece, a shared overlay (its
   *     grains gathered), or no grain to use: the old contents plus the piece.
   * A grain the piece covers only in part is filled from where the grain is now.
   */
  private async writeLocked(v: Volume, pieces: Piece[], direct = false): Promise<void> {
    const bs = this.blockSizeBytes;
    const alloc = this.pool.allocator;
    const drives = this.pool.drives;
    const table = v.table;
    // Plan: new blocks are allocated up front, so a full pool fails the request before
    // any byte is written.
    const inPlace: { pbn: number; piece: Piece; overlay: Overlay | undefined }[] = [];
    // mask !== 0: a new overlay of those grains on `old`.
    const fresh: { piece: Piece; old: number; overlay: Overlay | undefined; pbn: number; mask: number }[] =
      [];
    try {
      for (const piece of pieces) {
        const old = table.get(piece.lba);
        const overlay = old === 0 ? undefined : table.overlay(piece.lba);
        if (old !== 0 && alloc.refCount(old) === 1) {
          inPlace.push({ pbn: old, piece, overlay });
          continue;
        }
        const mask = old !== 0 && overlay === undefined ? this.newOverlayMask(table, piece) : 0;
        fresh.push({ piece, old, overlay, pbn: await this.pool.allocate(), mask });
      }
    } catch (err) {
      for (const f of fresh) alloc.unreserve(f.pbn);
      throw err;
    }
    try {
      // Segments to write: [pbn, inBlock, bytes]; adjacent blocks with adjacent bytes merge.
      const segs: { pbn: number; last: number; inBlock: number; buf: Buffer }[] = [];
      const add = (pbn: number, inBlock: number, buf: Buffer) => {
        const prev = segs[segs.length - 1];
        if (
          prev &&
          inBlock === 0 &&
          (prev.inBlock + prev.buf.length) % bs === 0 &&
          drives.adjacent(prev.last, pbn) &&
          prev.buf.buffer === buf.buffer &&
          prev.buf.byteOffset + prev.buf.length === buf.byteOffset
        ) {
          prev.buf = Buffer.from(buf.buffer, prev.buf.byteOffset, prev.buf.length + buf.length);
          prev.last = pbn;
          return;
        }
        segs.push({ pbn, last: pbn, inBlock, buf });
      };
      // Bytes some pieces need from their block's current contents, read first.
      const reads: Promise<void>[] = [];
      const later: (() => void)[] = [];
      const readCurrent = (lba: number, from: number, to: number, buf: Buffer, bufAt: number) =>
        eachSource(table, lba, from, to - from, this.grainBytes, (src, at, n) => {
          reads.push(drives.read(src, at, buf, bufAt + at - from, n));
        });
      /** Write `piece` into `pbn` widened to whole grains, the widening read from block lba now. */
      const grainWise = (pbn: number, piece: Piece) => {
        const g = this.grainBytes;
        const end = piece.inBlock + piece.data.length;
        const s0 = Math.floor(piece.inBlock / g) * g;
        const s1 = Math.min(Math.ceil(end / g) * g, bs);
        if (s0 === piece.inBlock && s1 === end) {
          add(pbn, piece.inBlock, piece.data);
          return;
        }
        const buf = Buffer.allocUnsafe(s1 - s0);
        const headRead = s0 < piece.inBlock;
        if (headRead) readCurrent(piece.lba, s0, s0 + g, buf, 0);
        // The tail grain, unless it is the head grain, already read.
        if (end < s1 && !(headRead && s1 - g === s0)) readCurrent(piece.lba, s1 - g, s1, buf, s1 - g - s0);
        later.push(() => {
          piece.data.copy(buf, piece.inBlock - s0);
          add(pbn, s0, buf);
        });
      };
      for (const { pbn, piece, overlay } of inPlace) {
        if (overlay === undefined) add(pbn, piece.inBlock, piece.data);
        else grainWise(pbn, piece);
      }
      for (const f of fresh) {
        if (f.mask !== 0) {
          grainWise(f.pbn, f.piece);
          continue;
        }
        if (f.piece.data.length === bs) {
          add(f.pbn, 0, f.piece.data);
          continue;
        }
        // Partial block: old contents (copy-on-write) or zeros, then the new bytes.
        const buf = f.old === 0 ? Buffer.alloc(bs) : Buffer.allocUnsafe(bs);
        if (f.old !== 0) readCurrent(f.piece.lba, 0, bs, buf, 0);
        later.push(() => {
          f.piece.data.copy(buf, f.piece.inBlock);
          add(f.pbn, 0, buf);
        });
      }
      if (reads.length > 0) await Promise.all(reads);
      for (const fn of later) fn();
      if (segs.length === 1) await drives.write(segs[0].pbn, segs[0].inBlock, segs[0].buf, direct);
      else await Promise.all(segs.map((s) => drives.write(s.pbn, s.inBlock, s.buf, direct)));
    } catch (err) {
      for (const f of fresh) alloc.unreserve(f.pbn);
      throw err;
    }
    // The data is written: now map it (memory and log in the same tick).
    const log = this.pool.log;
    for (const f of fresh) {
      const lba = f.piece.lba;
      alloc.mapReserved(f.pbn);
      if (f.mask !== 0) {
        // The table's reference to `old` stays, as the overlay's base.
        table.setOverlay(lba, f.pbn, f.old, f.mask);
        log.append(rec.mapOverlays(v.objId, Uint32Array.of(lba, f.pbn, f.old, f.mask)), true);
        continue;
      }
      table.set(lba, f.pbn);
      const seq = log.append(rec.map(v.objId, lba, f.pbn), true);
      if (f.old !== 0) alloc.unref(f.old, seq);
      if (f.overlay) alloc.unref(f.overlay.base, seq);
    }
    for (const { pbn, piece, overlay } of inPlace) {
      if (overlay === undefined) continue;
      const mask = (overlay.mask | this.grainsOf(piece)) >>> 0;
      if (mask === overlay.mask) continue;
      if (mask === this.fullMask) {
        // Every grain is in the block now: a plain block, the base no longer needed.
        table.set(piece.lba, pbn);
        alloc.unref(overlay.base, log.append(rec.map(v.objId, piece.lba, pbn), true));
      } else {
        table.setOverlay(piece.lba, pbn, overlay.base, mask);
        log.append(rec.mapOverlays(v.objId, Uint32Array.of(piece.lba, pbn, overlay.base, mask)), true);
      }
    }
  }

  /**
   * Fold the overlays whose base no other table holds (its snapshot is gone) back into
   * plain blocks, so an overlay does not keep two pool blocks for one for good. The side
   * with fewer grains is copied into the other, which becomes the plain block, and the
   * emptied one is let go: a failback's overlay holds one grain of 16, so its 4 KiB go
   * back into the base (the volume keeps the place it had on the drive) and the overlay's
   * block, mostly a hole of the drive file, is freed. Copying the base's 60 KiB the other
   * way moved 15 times the bytes, and the blocks freed were ones a backup or a host had
   * read through the page cache; a 4 KiB write into those costs the kernel several times
   * what one into a hole does (docs/profiling.md, "Folding into the base").
   * The copy writes only grains the block's reads take from the other side, so nothing
   * readable changes until the Map record. One block at a time, under its lock, as a
   * write (a snapshot waits for it); stops early when `stop` says so. Returns the blocks
   * folded. What a crash interrupts stays an overlay, which reads the same.
   */
  async foldOverlays(v: Volume, stop: () => boolean): Promise<number> {
    const alloc = this.pool.allocator;
    const drives = this.pool.drives;
    const g = this.grainBytes;
    const candidates: number[] = [];
    v.table.eachOverlay((lba, _pbn, o) => {
      if (alloc.refCount(o.base) === 1) candidates.push(lba);
    });
    let folded = 0;
    for (const lba of candidates) {
      if (stop() || v.deleted) break;
      const epoch = await this.enter(v);
      try {
        const release = await v.rt.locks.acquire(lba, 1);
        try {
          const pbn = v.table.get(lba);
          const o = v.table.overlay(lba);
          if (!o || alloc.refCount(pbn) !== 1 || alloc.refCount(o.base) !== 1) continue;
          const missing = (this.fullMask & ~o.mask) >>> 0;
          // Into the base when the overlay holds fewer grains than it lacks.
          const intoBase = popcount32(o.mask) < popcount32(missing);
          const [from, to, moved] = intoBase ? [pbn, o.base, o.mask] : [o.base, pbn, missing];
          const runs: [number, number][] = [];
          grainRuns(moved, (g0, g1) => runs.push([g0 * g, (g1 - g0) * g]));
          const bufs = runs.map(([, n]) => Buffer.allocUnsafe(n));
          await Promise.all(runs.map(([at, n], i) => drives.read(from, at, bufs[i], 0, n)));
          await Promise.all(runs.map(([at], i) => drives.write(to, at, bufs[i])));
          v.table.set(lba, to);
          alloc.unref(from, this.pool.log.append(rec.map(v.objId, lba, to), true));
          folded++;
        } finally {
          release();
        }
      } finally {
        this.leave(v, epoch);
      }
    }
    return folded;
  }

  /** The grains a piece touches. */
  private grainsOf(piece: Piece): number {
    const g = this.grainBytes;
    const g0 = Math.floor(piece.inBlock / g);
    const g1 = Math.floor((piece.inBlock + piece.data.length - 1) / g);
    return (fullMask(g1 + 1) & ~fullMask(g0)) >>> 0;
  }

  /**
   * The grains of a new overlay for a piece into a shared plain block, or 0 for a whole
   * copy: no grains in this pool, the piece touches every grain, or the table has its
   * most overlays (each costs memory until its block is rewritten whole).
   */
  private newOverlayMask(table: MappingTable, piece: Piece): number {
    if (this.grainBytes === 0 || table.overlayCount >= MAX_OVERLAYS) return 0;
    const mask = this.grainsOf(piece);
    return mask === this.fullMask ? 0 : mask;
  }

  /** Unmap whole blocks [first, first + count) of the volume (caller holds the locks). */
  private unmap(v: Volume, first: number, count: number): void {
    const alloc = this.pool.allocator;
    for (let lba = v.table.nextMapped(first, first + count); lba < first + count; ) {
      const overlay = v.table.overlay(lba);
      const old = v.table.set(lba, 0);
      const seq = this.pool.log.append(rec.map(v.objId, lba, 0));
      alloc.unref(old, seq);
      if (overlay) alloc.unref(overlay.base, seq);
      lba = v.table.nextMapped(lba + 1, first + count);
    }
  }

  async writeZeroes(v: Volume, offset: number, length: number, options: ZeroOptions): Promise<void> {
    const bs = this.blockSizeBytes;
    const end = offset + length;
    const first = Math.floor(offset / bs);
    const count = Math.floor((end - 1) / bs) - first + 1;
    // Whole blocks [wholeFirst, wholeEnd) (the volume's last block counts as whole when the
    // range runs to the end); the partial head and tail are written as zeros where mapped.
    const wholeFirst = Math.ceil(offset / bs);
    const wholeEnd = end === v.sizeBytes ? Math.ceil(end / bs) : Math.floor(end / bs);
    const ranges: { off: number; len: number }[] = [];
    if (wholeFirst >= wholeEnd) {
      ranges.push({ off: offset, len: length });
    } else {
      if (offset < wholeFirst * bs) ranges.push({ off: offset, len: wholeFirst * bs - offset });
      if (wholeEnd * bs < end) ranges.push({ off: wholeEnd * bs, len: end - wholeEnd * bs });
    }
    const epoch = await this.enter(v);
    try {
      let journaled: Promise<void> | undefined;
      const release = await v.rt.locks.acquire(first, count);
      this.spoilHashes(v, first, count);
      try {
        const mappedPartial: Piece[] = [];
        for (const r of ranges) {
          for (const p of this.pieces(r.off, Buffer.alloc(r.len))) {
            if (options.noHole || v.table.get(p.lba) !== 0) mappedPartial.push(p);
          }
        }
        if (options.fastOnly && (options.noHole || mappedPartial.length > 0)) {
          throw new ReboundError('NOT_SUPPORTED', 'zeroing this range would need writing zeros');
        }
        await this.markDirty(v, first, count, offset, length);
        if (mappedPartial.length > 0) await this.writeLocked(v, mappedPartial);
        if (wholeEnd > wholeFirst) {
          if (options.noHole) {
            for (let lba = wholeFirst; lba < wholeEnd; lba++) {
              const len = Math.min(bs, v.sizeBytes - lba * bs);
              await this.writeLocked(v, [{ lba, inBlock: 0, data: this.zeroBlock.subarray(0, len) }]);
            }
          } else {
            this.unmap(v, wholeFirst, wholeEnd - wholeFirst);
          }
        }
        journaled = v.rt.journal?.zero(offset, length, options.fua === true);
      } finally {
        release();
      }
      await both(options.fua ? this.pool.flush() : undefined, journaled);
    } finally {
      this.leave(v, epoch);
    }
  }

  /** Trim: whole blocks only (a partial block is left as it is, which the contract allows). */
  async trim(v: Volume, offset: number, length: number, fua: boolean): Promise<void> {
    const bs = this.blockSizeBytes;
    const end = offset + length;
    const wholeFirst = Math.ceil(offset / bs);
    const wholeEnd = end === v.sizeBytes ? Math.ceil(end / bs) : Math.floor(end / bs);
    const first = Math.floor(offset / bs);
    const count = Math.floor((end - 1) / bs) - first + 1;
    const epoch = await this.enter(v);
    try {
      let journaled: Promise<void> | undefined;
      const release = await v.rt.locks.acquire(first, count);
      this.spoilHashes(v, first, count);
      try {
        await this.markDirty(v, first, count, offset, length);
        if (wholeEnd > wholeFirst) {
          this.unmap(v, wholeFirst, wholeEnd - wholeFirst);
          // What happened, not what was asked: the unmapped blocks now read as zeros; the
          // partial head and tail were left as they are, so they are not journaled.
          const from = wholeFirst * bs;
          journaled = v.rt.journal?.zero(from, Math.min(wholeEnd * bs, v.sizeBytes) - from, fua);
        }
      } finally {
        release();
      }
      await both(fua ? this.pool.flush() : undefined, journaled);
    } finally {
      this.leave(v, epoch);
    }
  }

  /** Flush the pool, and the volume's journal sink when one is attached. */
  flush(v?: Volume): Promise<void> {
    return both(this.pool.flush(), v?.rt.journal?.flush());
  }

  /**
   * Set blocks [first, first + count) in every active bitmap, durably, before the caller
   * writes any data. Cheap when the bits are already set and durable. Bytes [offset,
   * offset + length) are what changes in them: the grains of the two edge blocks are
   * noted too (in memory only: Bitmap.grains), the blocks between change whole.
   */
  private async markDirty(
    v: Volume,
    first: number,
    count: number,
    offset: number,
    length: number,
  ): Promise<void> {
    if (v.bitmaps.size === 0) return;
    let fresh = false;
    for (const b of v.bitmaps.values())
      if (b.active && markRange(b, first, count, offset, length)) fresh = true;
    const log = this.pool.log;
    if (fresh) v.rt.lastMarkSeq = log.append(rec.bitmapMark(v.number, first, count));
    if (v.rt.lastMarkSeq > log.durableSeq) await log.commit(v.rt.lastMarkSeq);
  }

  /**
   * Mark byte ranges in every active bitmap of the volume now, durably, in one commit:
   * for writes known to be coming (a failback's copy into this volume), so each of them
   * finds its blocks marked and does not wait for a bitmap commit of its own. A mark
   * ahead of the data is safe (a backup reads one block too many, never one too few).
   * Ranges mark grains as writes do. Writes meanwhile see the marks only once they are
   * durable (lastMarkSeq). Returns the blocks some active bitmap lacked.
   *
   * The ranges are marked PREMARK_SLICE at a time, with a turn of the event loop between
   * slices: a failback's 20,000 scattered blocks take some 50 ms of this thread, which
   * hosts' requests (and the failback's own connection) would otherwise wait out. Each
   * slice is logged as one BitmapMarkList record (80 of them, not 20,000 BitmapMarks).
   * A freeze between two slices is harmless: a block whose mark it moved away is marked
   * again by its write, as without a premark.
   */
  async premark(v: Volume, ranges: { offset: number; length: number }[]): Promise<number> {
    const bs = this.blockSizeBytes;
    const log = this.pool.log;
    let marked = 0;
    const activeOf = () => [...v.bitmaps.values()].filter((b) => b.active);
    let active = activeOf();
    if (active.length === 0) return 0;
    const sizeBlocks = Math.ceil(v.sizeBytes / bs);
    for (let from = 0; from < ranges.length; from += PREMARK_SLICE) {
      if (from > 0) {
        await new Promise((resolve) => setImmediate(resolve));
        if (v.deleted) throw new ReboundError('NOT_FOUND', `volume ${v.name} was deleted`);
        active = activeOf(); // bitmaps created or deleted meanwhile
      }
      if (active.length === 0) continue;
      // The slice's fresh marks, logged as one record before the next turn (so that a
      // freeze in between is replayed after them, as it happened).
      const fresh: number[] = [];
      for (let i = from; i < Math.min(from + PREMARK_SLICE, ranges.length); i++) {
        const r = ranges[i];
        if (r.length <= 0) continue;
        const first = Math.floor(r.offset / bs);
        const end = Math.min(Math.ceil((r.offset + r.length) / bs), sizeBlocks);
        if (end <= first) continue;
        for (let b = first; b < end; b++) if (active.some((bm) => !bm.set.has(b))) marked++;
        let isFresh = false;
        for (const bm of active) if (markRange(bm, first, end - first, r.offset, r.length)) isFresh = true;
        if (isFresh) fresh.push(first, end - first);
      }
      if (fresh.length > 0)
        v.rt.lastMarkSeq = log.append(rec.bitmapMarkList(v.number, Uint32Array.from(fresh)));
    }
    if (v.rt.lastMarkSeq > log.durableSeq) await log.commit(v.rt.lastMarkSeq);
    return marked;
  }

  blockStatus(table: MappingTable, sizeBytes: number, offset: number, length: number): Extent[] {
    const bs = this.blockSizeBytes;
    const end = offset + length;
    const out: Extent[] = [];
    let pos = offset;
    while (pos < end && out.length < MAX_EXTENTS) {
      const lba = Math.floor(pos / bs);
      const endLba = Math.ceil(end / bs);
      let stop: number;
      let mapped: boolean;
      if (table.get(lba) === 0) {
        mapped = false;
        stop = table.nextMapped(lba, endLba);
      } else {
        mapped = true;
        stop = lba + 1;
        while (stop < endLba && table.get(stop) !== 0) stop++;
      }
      const stopPos = Math.min(end, stop * bs, sizeBytes);
      out.push({ offset: pos, length: stopPos - pos, hole: !mapped, zero: !mapped });
      pos = stopPos;
    }
    return out;
  }
}

/**
 * Mark bytes [offset, offset + length), blocks [first, first + count), in bitmap `b`:
 * the blocks' bits, and the grains of the two edge blocks (the blocks between change
 * whole). True when some block was not set before (a mark record is due).
 */
function markRange(b: Bitmap, first: number, count: number, offset: number, length: number): boolean {
  const last = first + count - 1;
  const headWasSet = b.set.has(first);
  const tailWasSet = b.set.has(last);
  let fresh = false;
  if (b.set.nextWith(false, first, first + count) < first + count) {
    fresh = true;
    b.set.addRange(first, count);
  }
  const g = b.grains;
  if (count > 2) g.markWhole(first + 1, count - 2);
  g.mark(first, g.maskOfRange(first, offset, length), headWasSet);
  if (count > 1) g.mark(last, g.maskOfRange(last, offset, length), tailWasSet);
  return fresh;
}

/** The offsets and lengths of `ranges`, as a read plan takes them. */
function rangeArrays(ranges: readonly ByteRange[]): { offsets: Float64Array; lengths: Uint32Array } {
  const offsets = new Float64Array(ranges.length);
  const lengths = new Uint32Array(ranges.length);
  for (let i = 0; i < ranges.length; i++) {
    offsets[i] = ranges[i].offset;
    lengths[i] = ranges[i].length;
  }
  return { offsets, lengths };
}

/** ReadDataOptions.into, when a read worker can write it: shared memory only. */
function sharedOnly(into: Buffer | undefined): Buffer | undefined {
  return into?.buffer instanceof SharedArrayBuffer ? into : undefined;
}
