/**
 * The write side of every read-only device (snapshots, backup images): writes, zeroes
 * and trims reject READ_ONLY (or OUT_OF_RANGE past the end, as the contract orders);
 * flush has nothing to do. Subclasses supply size, read and block status.
 */
import type { BlockDevice, Extent } from './device.js';
import { checkRange } from './range.js';

export abstract class ReadOnlyDevice implements BlockDevice {
  readonly readOnly = true;
  abstract readonly sizeBytes: number;
  abstract readonly blockSizeBytes: number;
  abstract read(offset: number, length: number): Promise<Buffer>;
  abstract blockStatus(offset: number, length: number): Promise<Extent[]>;

  async write(offset: number, data: Buffer): Promise<void> {
    checkRange(this, offset, data.length, true);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    checkRange(this, offset, length, true);
  }

  async trim(offset: number, length: number): Promise<void> {
    checkRange(this, offset, length, true);
  }

  async flush(): Promise<void> {}
}
