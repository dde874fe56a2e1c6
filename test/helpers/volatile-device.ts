/**
 * A BlockDevice with a volatile write cache, to test what a server crash can lose: writes
 * are visible at once but reach the durable copy only at flush (or at once with fua);
 * `crash()` throws the cache away, as kill -9 of a server with a write-back cache does.
 * `failWrites` makes chosen writes fail with IO_ERROR (a server refusing a re-sent write).
 */
import type { BlockDevice, Extent, WriteOptions, ZeroOptions } from '../../src/block/device.js';
import { MemoryDevice } from '../../src/block/memory-device.js';
import { ReboundError } from '../../src/errors.js';

type CacheOp = (durable: BlockDevice) => Promise<void>;

export class VolatileDevice implements BlockDevice {
  readonly readOnly = false;
  /** When set and true for a write's range, the write fails with IO_ERROR and changes nothing. */
  failWrites: ((offset: number, length: number) => boolean) | undefined;
  private current: MemoryDevice;
  private readonly durable: MemoryDevice;
  private cache: CacheOp[] = [];

  constructor(
    readonly sizeBytes: number,
    readonly blockSizeBytes = 65536,
  ) {
    this.current = new MemoryDevice(sizeBytes, { blockSizeBytes });
    this.durable = new MemoryDevice(sizeBytes, { blockSizeBytes });
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.current.read(offset, length);
  }

  async write(offset: number, data: Buffer, options: WriteOptions = {}): Promise<void> {
    if (this.failWrites?.(offset, data.length))
      throw new ReboundError('IO_ERROR', `injected failure at ${offset}`);
    await this.current.write(offset, data);
    const copy = Buffer.from(data);
    await this.land((d) => d.write(offset, copy), options);
  }

  async writeZeroes(offset: number, length: number, options: ZeroOptions = {}): Promise<void> {
    await this.current.writeZeroes(offset, length, options);
    await this.land((d) => d.writeZeroes(offset, length, { noHole: options.noHole }), options);
  }

  async trim(offset: number, length: number, options: WriteOptions = {}): Promise<void> {
    await this.current.trim(offset, length);
    await this.land((d) => d.trim(offset, length), options);
  }

  async flush(): Promise<void> {
    const ops = this.cache;
    this.cache = [];
    for (const op of ops) await op(this.durable);
  }

  blockStatus(offset: number, length: number): Promise<Extent[]> {
    return this.current.blockStatus(offset, length);
  }

  /** What survived: the durable copy. */
  readDurable(offset: number, length: number): Promise<Buffer> {
    return this.durable.read(offset, length);
  }

  /** Lose every write not yet flushed. */
  async crash(): Promise<void> {
    this.cache = [];
    const fresh = new MemoryDevice(this.sizeBytes, { blockSizeBytes: this.blockSizeBytes });
    for (const e of await this.durable.blockStatus(0, this.sizeBytes)) {
      if (!e.hole) await fresh.write(e.offset, await this.durable.read(e.offset, e.length));
    }
    this.current = fresh;
  }

  private async land(op: CacheOp, options: WriteOptions): Promise<void> {
    this.cache.push(op);
    // FUA: this write and, to keep the order, everything cached before it.
    if (options.fua) await this.flush();
  }
}
