/**
 * The one abstraction of Rebound: a block device (DESIGN.md, "The one abstraction").
 *
 * Thin volumes, snapshots, NBD client connections, backup generations: everything that
 * holds blocks implements this interface, and every tool (the copy engine, the NBD
 * server, the backup writer) works on any of them.
 *
 * Contract (every implementation runs test/unit/block/conformance.ts):
 * - Offsets and lengths are bytes, plain numbers (safe up to 2^53).
 * - A request with `offset + length > sizeBytes` MUST reject with OUT_OF_RANGE and
 *   change nothing. A zero-length request MUST succeed and do nothing.
 * - `read` MUST return exactly `length` bytes. Never-written, trimmed and zeroed ranges
 *   read as zeros; a read never returns another device's or deleted data.
 * - `write`, `writeZeroes` and `trim` on a read-only device MUST reject with READ_ONLY.
 * - A write is "written" when its promise resolves: later reads see it. It is "durable"
 *   only once a later `flush()` resolves, or at once when written with `fua: true`.
 *   Durable data survives a crash of the process or the machine (kill -9, power loss).
 * - `writeZeroes` MUST read back as zeros; it may deallocate unless `noHole` is set.
 *   With `fastOnly` it MUST reject with NOT_SUPPORTED, changing nothing, when it cannot
 *   zero faster than by writing zeros.
 * - `trim` is advisory: the device may ignore it or shrink it to its own alignment; the
 *   trimmed range afterwards reads as its old data or as zeros, nothing else.
 * - `blockStatus` MUST return at least one extent, the first starting at `offset`,
 *   contiguous, with non-zero lengths, covering at least one byte and at most
 *   `[offset, offset + length)`. `hole` means no storage is allocated, `zero` that the
 *   range reads as zeros (a hole is always zero). Reporting "allocated, not zero" is
 *   always safe.
 * - Concurrent requests are allowed. Overlapping concurrent writes land in some order;
 *   non-overlapping ones never disturb each other.
 */

/** Hints to readDataRanges and readRanges (a device may ignore them). */
export interface ReadDataOptions {
  /**
   * A failback's delta whose verify follows (a copy's batch, generation N+1's grains): the
   * device may keep a hash of each unit it read, so the verify need not read them again
   * (a volume: volume/hash-memo.ts).
   */
  keepHashes?: boolean;
  /**
   * Read into this memory, from its start, instead of a buffer of the device's own; the
   * answer is then a view of it. For memory the caller reuses: a backup reads a batch of
   * grains straight into its codec job's input (shared memory), and a volume's read
   * worker preads into it, with no buffer made and no copy per batch. A device that
   * ignores it answers with a buffer of its own, so the caller checks which it got.
   */
  into?: Buffer;
}

export interface WriteOptions {
  /** Force unit access: resolve only once this write is durable. */
  fua?: boolean;
  /**
   * A hint for bulk writes nobody reads back soon (a restore): bypass the page cache where
   * the device can (a volume's pool drives, from memory of pool/aligned-memory.ts).
   * Durability is unchanged: still after a flush (or fua). Devices may ignore it.
   */
  direct?: boolean;
  /**
   * The caller hands `data` over: it neither changes nor reuses it after the call. A
   * device that keeps written data (the NBD client holds writes until a flush, to re-send
   * them after a reconnect) then keeps it as it is instead of a copy. Devices may ignore it.
   */
  handOff?: boolean;
}

export interface ZeroOptions extends WriteOptions {
  /** Keep the range allocated (NBD_CMD_FLAG_NO_HOLE). */
  noHole?: boolean;
  /** Fail with NOT_SUPPORTED rather than fall back to writing zeros (NBD_CMD_FLAG_FAST_ZERO). */
  fastOnly?: boolean;
}

export interface Extent {
  offset: number;
  length: number;
  /** No storage allocated behind this range. */
  hole: boolean;
  /** The range reads as zeros. */
  zero: boolean;
}

export interface ByteRange {
  offset: number;
  length: number;
}

export interface BlockDevice {
  readonly sizeBytes: number;
  /** The device's allocation granularity: status and update bitmaps work in these units. */
  readonly blockSizeBytes: number;
  readonly readOnly: boolean;

  /** The caller owns the buffer: the device never changes it afterwards (a reused one comes back only through a recycle the caller opts into). */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Optional: read `out.length` bytes at `offset` into the caller's buffer (which may be
   * shared memory). Bulk readers that reuse their buffers (the backup writer) use it
   * where a device has it, saving a fresh buffer, its page faults and its collection per
   * read.
   */
  readInto?(offset: number, out: Uint8Array): Promise<void>;
  /**
   * Optional: like read, except that the bytes of ranges blockStatus reports as zero are
   * left as they happen to be. For copiers that take those ranges from blockStatus and
   * never look at their bytes (the copy engine's reads across holes, mergeHoleBytes): a
   * backup image then skips zeroing them in its reused buffers.
   */
  readData?(offset: number, length: number): Promise<Buffer>;
  /**
   * Optional: readData of several ranges in one call, their bytes back to back in the
   * returned buffer (range i at the sum of the lengths before it). The ranges are in
   * ascending order and do not overlap; each follows the rules of `read` (OUT_OF_RANGE,
   * zero lengths). All or nothing: when any range fails, the call rejects and returns no
   * byte. For sources where a read has a fixed cost that many small ranges can share (a
   * backup image decodes the blocks of all of them in one codec job per fetch window):
   * the copy engine then reads a batch of scattered chunks with one call.
   */
  readDataRanges?(ranges: readonly ByteRange[], options?: ReadDataOptions): Promise<Buffer>;
  /**
   * Optional: read of several ranges in one call, their bytes back to back (range i at
   * the sum of the lengths before it), every byte as `read` gives it, zeros included.
   * Same rules as readDataRanges otherwise. For readers that need every byte of
   * scattered small ranges (a backup of 4 KiB grains) where one call costs much less
   * than one read each (a volume's read workers).
   */
  readRanges?(ranges: readonly ByteRange[], options?: ReadDataOptions): Promise<Buffer>;
  write(offset: number, data: Buffer, options?: WriteOptions): Promise<void>;
  writeZeroes(offset: number, length: number, options?: ZeroOptions): Promise<void>;
  trim(offset: number, length: number, options?: WriteOptions): Promise<void>;
  /** Resolve once every write that had resolved before this call is durable. */
  flush(): Promise<void>;
  blockStatus(offset: number, length: number): Promise<Extent[]>;
}
