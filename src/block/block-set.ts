/**
 * A block set: one bit per block of a device's address space (SPEC's "update difference
 * management bitmap"). Volumes keep their update bitmaps as block sets, the NBD server
 * answers `qemu:dirty-bitmap:NAME` from one, the copy engine copies the blocks of one.
 *
 * Encoding (docs/formats/bitmap.md): a 16-byte header, then the bits, LSB first.
 *
 *   0  u32 magic 0x52425354 ("RBST")   4  u16 version (1)   6  u16 reserved (0)
 *   8  u64 number of bits              16 ceil(bits / 8) bytes, bit i = byte i>>3, mask 1<<(i&7)
 */
import { ReboundError } from '../errors.js';

const MAGIC = 0x52425354;
const VERSION = 1;
const HEADER_BYTES = 16;

/** Bits set in each byte value, for counting. */
const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1];
/** The lowest set bit of each non-zero byte value (its trailing zeros), for nextWith. */
const LOWEST_BIT = new Uint8Array(256);
for (let i = 1; i < 256; i++) LOWEST_BIT[i] = 31 - Math.clz32(i & -i);

export interface Run {
  /** First block of the run. */
  start: number;
  /** Number of blocks in the run. */
  count: number;
}

export class BlockSet {
  private bytes: Uint8Array;
  private bits: number;

  constructor(sizeBlocks: number) {
    if (!Number.isSafeInteger(sizeBlocks) || sizeBlocks < 0) throw new RangeError(`bad size ${sizeBlocks}`);
    this.bits = sizeBlocks;
    this.bytes = new Uint8Array(Math.ceil(sizeBlocks / 8));
  }

  /** Number of blocks the set covers (set or not). */
  get sizeBlocks(): number {
    return this.bits;
  }

  has(block: number): boolean {
    return block >= 0 && block < this.bits && (this.bytes[block >> 3] & (1 << (block & 7))) !== 0;
  }

  /** Set one block; returns true when it was not set before. */
  add(block: number): boolean {
    this.assertIndex(block);
    const i = block >> 3;
    const mask = 1 << (block & 7);
    if (this.bytes[i] & mask) return false;
    this.bytes[i] |= mask;
    return true;
  }

  delete(block: number): void {
    this.assertIndex(block);
    this.bytes[block >> 3] &= ~(1 << (block & 7));
  }

  /** Set `count` blocks from `start`. */
  addRange(start: number, count: number): void {
    if (count <= 0) return;
    this.assertIndex(start);
    this.assertIndex(start + count - 1);
    let b = start;
    const end = start + count;
    while (b < end && b & 7) this.bytes[b >> 3] |= 1 << (b++ & 7);
    if (end - b >= 8) {
      this.bytes.fill(0xff, b >> 3, end >> 3);
      b = end & ~7;
    }
    while (b < end) this.bytes[b >> 3] |= 1 << (b++ & 7);
  }

  /** True when any block of [start, start + count) is set. */
  hasAny(start: number, count: number): boolean {
    const end = Math.min(start + count, this.bits);
    for (let b = Math.max(0, start); b < end; b++) {
      if ((b & 7) === 0 && end - b >= 8) {
        if (this.bytes[b >> 3] !== 0) return true;
        b += 7;
        continue;
      }
      if (this.has(b)) return true;
    }
    return false;
  }

  clear(): void {
    this.bytes.fill(0);
  }

  /** Number of blocks set. */
  count(): number {
    let n = 0;
    for (let i = 0; i < this.bytes.length; i++) n += POPCOUNT[this.bytes[i]];
    return n;
  }

  /** Add every block of `other` (which must cover no more blocks than this set). */
  union(other: BlockSet): this {
    if (other.bits > this.bits) {
      throw new ReboundError('INVALID_ARGUMENT', `cannot merge ${other.bits} blocks into ${this.bits}`);
    }
    const src = other.bytes;
    for (let i = 0; i < src.length; i++) this.bytes[i] |= src[i];
    return this;
  }

  /**
   * Blocks [start, start + count) as a set of their own (bit k: block start + k). From a
   * byte boundary the bytes are copied whole; elsewhere run by run.
   */
  slice(start: number, count: number): BlockSet {
    if (count < 0 || start < 0 || start + count > this.bits)
      throw new RangeError(`slice [${start}, +${count}) of a set of ${this.bits}`);
    const part = new BlockSet(count);
    if ((start & 7) === 0) {
      part.bytes.set(this.bytes.subarray(start >> 3, (start >> 3) + part.bytes.length));
      part.resize(count); // the bits past `count` in the last byte are not the slice's
    } else for (const r of this.runs(start, count)) part.addRange(r.start - start, r.count);
    return part;
  }

  clone(): BlockSet {
    const copy = new BlockSet(this.bits);
    copy.bytes.set(this.bytes);
    return copy;
  }

  /** Change the number of blocks covered; new blocks start clear, dropped ones are forgotten. */
  resize(sizeBlocks: number): void {
    const bytes = new Uint8Array(Math.ceil(sizeBlocks / 8));
    bytes.set(this.bytes.subarray(0, bytes.length));
    this.bytes = bytes;
    this.bits = sizeBlocks;
    // Clear bits past the end in the last byte, so count() stays exact after a shrink.
    if (sizeBlocks & 7) this.bytes[bytes.length - 1] &= (1 << (sizeBlocks & 7)) - 1;
  }

  /** The set blocks as runs, in address order, within [start, start + count) when given. */
  *runs(start = 0, count = this.bits - start): Generator<Run> {
    const end = Math.min(start + count, this.bits);
    let b = Math.max(0, start);
    while (b < end) {
      b = this.nextWith(true, b, end);
      if (b >= end) return;
      const stop = this.nextWith(false, b + 1, end);
      yield { start: b, count: stop - b };
      b = stop;
    }
  }

  /**
   * The first block at or after `from` (and before `end`) whose bit equals `value`, or
   * `end` (at most the set's size). A byte at a time, its lowest matching bit from a
   * table: a failback's set of 20,000 scattered grains in 2 million is 40,000 of these
   * calls (runs() makes two per run), for its copy, its premark and its verify.
   */
  nextWith(value: boolean, from: number, end = this.bits): number {
    end = Math.min(end, this.bits);
    if (from < 0) from = 0;
    if (from >= end) return end;
    const bytes = this.bytes;
    // Looking for clear bits: look for set bits of the complement.
    const flip = value ? 0 : 0xff;
    let i = from >> 3;
    const last = (end - 1) >> 3;
    // The first byte, without the bits below `from`.
    let x = (bytes[i] ^ flip) & (0xff << (from & 7));
    while (x === 0 && i < last) x = bytes[++i] ^ flip;
    if (x === 0) return end;
    // Past `end` (in the last byte, or the padding bits past the set's size): none.
    return Math.min((i << 3) + LOWEST_BIT[x], end);
  }

  encode(): Buffer {
    const out = Buffer.alloc(HEADER_BYTES + this.bytes.length);
    out.writeUInt32BE(MAGIC, 0);
    out.writeUInt16BE(VERSION, 4);
    out.writeBigUInt64BE(BigInt(this.bits), 8);
    out.set(this.bytes, HEADER_BYTES);
    return out;
  }

  static decode(buf: Buffer): BlockSet {
    if (buf.length < HEADER_BYTES || buf.readUInt32BE(0) !== MAGIC) {
      throw new ReboundError('INVALID_ARGUMENT', 'not an encoded block set (bad magic)');
    }
    const version = buf.readUInt16BE(4);
    if (version !== VERSION)
      throw new ReboundError('INVALID_ARGUMENT', `block set version ${version} unknown`);
    const bits = Number(buf.readBigUInt64BE(8));
    const set = new BlockSet(bits);
    if (buf.length !== HEADER_BYTES + set.bytes.length) {
      throw new ReboundError('INVALID_ARGUMENT', `block set of ${bits} bits has ${buf.length} bytes`);
    }
    set.bytes.set(buf.subarray(HEADER_BYTES));
    set.resize(bits); // drop stray bits past the end
    return set;
  }

  private assertIndex(block: number): void {
    if (!(block >= 0 && block < this.bits))
      throw new RangeError(`block ${block} outside set of ${this.bits}`);
  }
}
