/**
 * A sparse in-memory BlockDevice: the reference implementation of the contract in
 * device.ts. Tests use it as a peer, and it is what the NBD layer is tested against
 * before any pool exists.
 */
import type { BlockDevice, Extent, ZeroOptions } from './device.js';
import { checkRange } from './range.js';

export class MemoryDevice implements BlockDevice {
  readonly blockSizeBytes: number;
  readonly readOnly: boolean;
  private readonly blocks = new Map<number, Buffer>();
  private size: number;

  constructor(sizeBytes: number, options: { blockSizeBytes?: number; readOnly?: boolean } = {}) {
    this.size = sizeBytes;
    this.blockSizeBytes = options.blockSizeBytes ?? 65536;
    this.readOnly = options.readOnly ?? false;
  }

  get sizeBytes(): number {
    return this.size;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    checkRange(this, offset, length);
    const out = Buffer.alloc(length);
    this.forEachPiece(offset, length, (block, inBlock, at, n) => {
      this.blocks.get(block)?.copy(out, at, inBlock, inBlock + n);
    });
    return out;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    checkRange(this, offset, data.length, true);
    this.forEachPiece(offset, data.length, (block, inBlock, at, n) => {
      let buf = this.blocks.get(block);
      if (!buf) {
        buf = Buffer.alloc(this.blockSizeBytes);
        this.blocks.set(block, buf);
      }
      data.copy(buf, inBlock, at, at + n);
    });
  }

  async writeZeroes(offset: number, length: number, options: ZeroOptions = {}): Promise<void> {
    checkRange(this, offset, length, true);
    this.forEachPiece(offset, length, (block, inBlock, _at, n) => {
      if (n === this.blockSizeBytes && !options.noHole) this.blocks.delete(block);
      else this.blocks.get(block)?.fill(0, inBlock, inBlock + n);
    });
  }

  async trim(offset: number, length: number): Promise<void> {
    checkRange(this, offset, length, true);
    this.forEachPiece(offset, length, (block, _inBlock, _at, n) => {
      if (n === this.blockSizeBytes) this.blocks.delete(block);
    });
  }

  async flush(): Promise<void> {}

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    checkRange(this, offset, length);
    const extents: Extent[] = [];
    this.forEachPiece(offset, length, (block, _inBlock, at, n) => {
      const hole = !this.blocks.has(block);
      const last = extents[extents.length - 1];
      if (last && last.hole === hole) last.length += n;
      else extents.push({ offset: offset + at, length: n, hole, zero: hole });
    });
    return extents;
  }

  /** Number of blocks holding storage (for tests of thin behaviour). */
  get allocatedBlocks(): number {
    return this.blocks.size;
  }

  /** Change the size; used to test growth. */
  resize(sizeBytes: number): void {
    this.size = sizeBytes;
  }

  private forEachPiece(
    offset: number,
    length: number,
    fn: (block: number, inBlock: number, at: number, n: number) => void,
  ): void {
    let at = 0;
    while (at < length) {
      const pos = offset + at;
      const block = Math.floor(pos / this.blockSizeBytes);
      const inBlock = pos - block * this.blockSizeBytes;
      const n = Math.min(this.blockSizeBytes - inBlock, length - at);
      fn(block, inBlock, at, n);
      at += n;
    }
  }
}
