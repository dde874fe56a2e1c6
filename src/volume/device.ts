/**
 * The BlockDevice views of volumes and snapshots (src/block/device.ts has the contract).
 *
 * - host:     what NBD clients see. Rejects VOLUME_FENCED while the volume is fenced and
 *             counts itself in flight so that `fence` can wait for it.
 * - engine:   the node's own engines (restore, copy). Ignores the fence.
 * - snapshot: read only.
 * All three go through the same data path (VolumeIo), which marks update bitmaps.
 */
import type {
  BlockDevice,
  ByteRange,
  Extent,
  ReadDataOptions,
  WriteOptions,
  ZeroOptions,
} from '../block/device.js';
import { checkRange } from '../block/range.js';
import { ReadOnlyDevice } from '../block/read-only-device.js';
import { ReboundError } from '../errors.js';
import type { VolumeIo } from './io.js';
import type { Snapshot, Volume } from './state.js';

export type DeviceKind = 'host' | 'engine';

export class VolumeDevice implements BlockDevice {
  readonly readOnly = false;

  constructor(
    private readonly io: VolumeIo,
    private readonly vol: Volume,
    private readonly kind: DeviceKind,
  ) {}

  get sizeBytes(): number {
    return this.vol.sizeBytes;
  }

  get blockSizeBytes(): number {
    return this.io.blockSizeBytes;
  }

  /** Run `fn` as one request: checks existence and fence, counts host requests in flight. */
  private async run<T>(fn: () => Promise<T>): Promise<T> {
    const v = this.vol;
    if (v.deleted) throw new ReboundError('NOT_FOUND', `volume ${v.name} was deleted`);
    if (this.kind === 'engine') return fn();
    if (v.fenced) throw new ReboundError('VOLUME_FENCED', `volume ${v.name} is fenced: host I/O is stopped`);
    v.rt.host++;
    try {
      return await fn();
    } finally {
      v.rt.host--;
      v.rt.notify();
    }
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.run(async () => {
      checkRange(this, offset, length);
      return this.io.read(this.vol.table, offset, length);
    });
  }

  readInto(offset: number, out: Uint8Array): Promise<void> {
    return this.run(async () => {
      checkRange(this, offset, out.length);
      return this.io.readInto(this.vol.table, offset, out);
    });
  }

  /**
   * BlockDevice.readDataRanges: the copy engine's batch of scattered chunks (a failback's
   * 4 KiB blocks) read by a read worker in one message. Holes read as zeros. With
   * keepHashes, the worker also hashes what it read, for the copy's verify (hash-memo.ts).
   */
  readDataRanges(ranges: readonly ByteRange[], options?: ReadDataOptions): Promise<Buffer> {
    if (options?.keepHashes !== true) return this.readRanges(ranges, options);
    return this.run(async () => {
      for (const r of ranges) checkRange(this, r.offset, r.length);
      return this.io.readRangesKeepingHashes(this.vol, ranges, this.vol.table, options.into);
    });
  }

  /** BlockDevice.readRanges: scattered ranges read by a read worker in one message. */
  readRanges(ranges: readonly ByteRange[], options?: ReadDataOptions): Promise<Buffer> {
    return this.run(async () => {
      for (const r of ranges) checkRange(this, r.offset, r.length);
      return this.io.readRanges(this.vol.table, ranges, options?.into);
    });
  }

  write(offset: number, data: Buffer, options?: WriteOptions): Promise<void> {
    return this.run(async () => {
      checkRange(this, offset, data.length, true);
      if (data.length === 0) return;
      await this.io.write(this.vol, offset, data, options?.fua === true, options?.direct === true);
    });
  }

  writeZeroes(offset: number, length: number, options: ZeroOptions = {}): Promise<void> {
    return this.run(async () => {
      checkRange(this, offset, length, true);
      if (length === 0) return;
      await this.io.writeZeroes(this.vol, offset, length, options);
    });
  }

  trim(offset: number, length: number, options?: WriteOptions): Promise<void> {
    return this.run(async () => {
      checkRange(this, offset, length, true);
      if (length === 0) return;
      await this.io.trim(this.vol, offset, length, options?.fua === true);
    });
  }

  flush(): Promise<void> {
    return this.run(() => this.io.flush(this.vol));
  }

  blockStatus(offset: number, length: number): Promise<Extent[]> {
    return this.run(async () => {
      checkRange(this, offset, length);
      return this.io.blockStatus(this.vol.table, this.vol.sizeBytes, offset, length);
    });
  }
}

export class SnapshotDevice extends ReadOnlyDevice {
  constructor(
    private readonly io: VolumeIo,
    private readonly snap: Snapshot,
  ) {
    super();
  }

  get sizeBytes(): number {
    return this.snap.sizeBytes;
  }

  get blockSizeBytes(): number {
    return this.io.blockSizeBytes;
  }

  private check(): void {
    if (this.snap.deleted) throw new ReboundError('NOT_FOUND', `snapshot ${this.snap.name} was deleted`);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.check();
    checkRange(this, offset, length);
    return this.io.read(this.snap.table, offset, length);
  }

  async readInto(offset: number, out: Uint8Array): Promise<void> {
    this.check();
    checkRange(this, offset, out.length);
    return this.io.readInto(this.snap.table, offset, out);
  }

  /**
   * BlockDevice.readRanges: a backup's scattered grains, read by a read worker in one
   * message. With keepHashes (generation N+1 of a failback through the object store), the
   * hashes of what was read are kept in the snapshot's volume for the verify: they answer
   * for a grain while the volume still maps it where the snapshot does (hash-memo.ts).
   * With `into` (shared memory: the backup's codec input), the worker reads into it.
   */
  async readRanges(ranges: readonly ByteRange[], options?: ReadDataOptions): Promise<Buffer> {
    this.check();
    for (const r of ranges) checkRange(this, r.offset, r.length);
    if (options?.keepHashes === true)
      return this.io.readRangesKeepingHashes(this.snap.volume, ranges, this.snap.table, options.into);
    return this.io.readRanges(this.snap.table, ranges, options?.into);
  }

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    this.check();
    checkRange(this, offset, length);
    return this.io.blockStatus(this.snap.table, this.snap.sizeBytes, offset, length);
  }
}
