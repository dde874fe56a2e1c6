/**
 * A pool: drives + superblock + allocator + metadata log, opened from one directory.
 *
 *   <dir>/superblock        magic, version, block size, serial, drive list
 *   <dir>/drives/drive0.img data blocks (sparse)
 *   <dir>/meta/checkpoint   full metadata state at epoch E
 *   <dir>/meta/log          records since checkpoint E
 *
 * The pool knows blocks, not volumes: what the records mean is the volume layer's
 * business (it passes an `apply` function to replay them).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ReboundError, toReboundError } from '../errors.js';
import { Allocator } from './allocator.js';
import { Drives } from './drives.js';
import { writeFileAtomic } from './files.js';
import { PoolLock } from './lock.js';
import { type ApplyRecord, MetaLog } from './metalog.js';
import { type DriveSpec, decodeSuperblock, encodeSuperblock, type Superblock } from './superblock.js';

export const DEFAULT_BLOCK_SIZE_BYTES = 65536;
export const DEFAULT_DRIVE_SIZE_BYTES = 64 * 1024 ** 3;

export interface PoolInitOptions {
  /** 8 uppercase hex digits; random when not given. */
  serial?: string;
  /** Default: one drive `drives/drive0.img` of 64 GiB (sparse). */
  drives?: { path?: string; sizeBytes: number }[];
  /** Power of two, 4 KiB to 1 MiB; default 64 KiB. */
  blockSizeBytes?: number;
  poolName?: string;
}

export interface PoolOpenOptions {
  /** Write a checkpoint once the log grows past this many bytes (default 64 MiB). */
  checkpointLogBytes?: number;
}

export const SERIAL_PATTERN = /^[0-9A-F]{8}$/;

export class Pool {
  private constructor(
    readonly dir: string,
    readonly superblock: Superblock,
    readonly drives: Drives,
    readonly allocator: Allocator,
    readonly log: MetaLog,
    private readonly lock: PoolLock,
  ) {}

  get blockSizeBytes(): number {
    return this.superblock.blockSizeBytes;
  }

  get serial(): string {
    return this.superblock.serial;
  }

  get name(): string {
    return this.superblock.poolName;
  }

  static async exists(dir: string): Promise<boolean> {
    try {
      await stat(join(dir, 'superblock'));
      return true;
    } catch {
      return false;
    }
  }

  /** Create a new pool in `dir`; `initialRecords` become the first checkpoint. */
  static async init(
    dir: string,
    options: PoolInitOptions,
    initialRecords: Buffer[] = [],
  ): Promise<Superblock> {
    const blockSizeBytes = options.blockSizeBytes ?? DEFAULT_BLOCK_SIZE_BYTES;
    if (
      !Number.isSafeInteger(blockSizeBytes) ||
      blockSizeBytes < 4096 ||
      blockSizeBytes > 1024 * 1024 ||
      (blockSizeBytes & (blockSizeBytes - 1)) !== 0
    ) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `block size ${blockSizeBytes} is not a power of two in 4 KiB..1 MiB`,
        {
          detail: { field: 'blockSizeBytes' },
        },
      );
    }
    const serial = options.serial ?? randomBytes(4).toString('hex').toUpperCase();
    if (!SERIAL_PATTERN.test(serial)) {
      throw new ReboundError('INVALID_ARGUMENT', `serial ${serial} is not 8 uppercase hex digits`, {
        detail: { field: 'serial' },
      });
    }
    const given = options.drives ?? [{ sizeBytes: DEFAULT_DRIVE_SIZE_BYTES }];
    if (given.length === 0) throw new ReboundError('INVALID_ARGUMENT', 'a pool needs at least one drive');
    const drives: DriveSpec[] = given.map((d, i) => {
      if (!Number.isSafeInteger(d.sizeBytes) || d.sizeBytes < blockSizeBytes) {
        throw new ReboundError(
          'INVALID_ARGUMENT',
          `drive ${i} size ${d.sizeBytes} is smaller than one block`,
          {
            detail: { field: 'drives' },
          },
        );
      }
      return { path: d.path ?? `drives/drive${i}.img`, sizeBytes: d.sizeBytes };
    });
    const total = drives.reduce((n, d) => n + Math.floor(d.sizeBytes / blockSizeBytes), 0);
    if (total >= 2 ** 32 - 1)
      throw new ReboundError('INVALID_ARGUMENT', `pool of ${total} blocks is too large`);
    // Asked before the lock too: init on a pool that is open says it exists, not that it is in use.
    if (await Pool.exists(dir)) throw new ReboundError('ALREADY_EXISTS', `a pool already exists in ${dir}`);
    await mkdir(dir, { recursive: true }).catch((err) => {
      throw toReboundError(err);
    });
    // Two inits at once must not interleave their files, nor an init write into an open pool.
    const lock = await PoolLock.acquire(dir);
    if (await Pool.exists(dir)) {
      await lock.release();
      throw new ReboundError('ALREADY_EXISTS', `a pool already exists in ${dir}`);
    }
    const sb: Superblock = {
      blockSizeBytes,
      serial,
      poolName: options.poolName ?? 'pool0',
      createdAt: new Date().toISOString(),
      drives,
    };
    try {
      await mkdir(join(dir, 'drives'), { recursive: true });
      const d = await Drives.open(dir, drives, blockSizeBytes, true);
      await d.datasync();
      await d.close();
      await MetaLog.create(dir, initialRecords);
      // Last: a directory without a superblock is not a pool (init can simply run again).
      await writeFileAtomic(join(dir, 'superblock'), encodeSuperblock(sb));
    } catch (err) {
      throw toReboundError(err);
    } finally {
      await lock.release();
    }
    return sb;
  }

  /** `makeApply` gets the superblock and returns the function that replays each record. */
  static async open(
    dir: string,
    makeApply: (sb: Superblock) => ApplyRecord,
    options: PoolOpenOptions = {},
  ): Promise<Pool> {
    let raw: Buffer;
    try {
      raw = await readFile(join(dir, 'superblock'));
    } catch (err) {
      throw new ReboundError('POOL_NOT_INITIALISED', `no pool in ${dir} (no superblock)`, { cause: err });
    }
    const sb = decodeSuperblock(raw);
    // Before anything is written: opening replays the log and starts a new one.
    const lock = await PoolLock.acquire(dir);
    let drives: Drives | undefined;
    try {
      drives = await Drives.open(dir, sb.drives, sb.blockSizeBytes, false);
      const d = drives;
      const allocator = new Allocator(d.totalBlocks);
      const log = await MetaLog.open(dir, makeApply(sb), {
        dataSync: () => d.datasync(),
        onDurable: (seq) => allocator.release(seq),
        checkpointLogBytes: options.checkpointLogBytes,
      });
      return new Pool(dir, sb, d, allocator, log, lock);
    } catch (err) {
      await drives?.close();
      await lock.release();
      throw err;
    }
  }

  /**
   * Reserve a free block. When the pool is full but frees are waiting for their record to
   * become durable, commit and try once more before answering POOL_NO_SPACE.
   */
  async allocate(): Promise<number> {
    if (this.allocator.freeBlocks === 0 && this.allocator.quarantinedBlocks > 0) {
      await this.log.commit();
      this.allocator.release(this.log.durableSeq);
    }
    return this.allocator.allocate();
  }

  get capacityBytes(): number {
    return this.drives.totalBlocks * this.blockSizeBytes;
  }

  get usedBytes(): number {
    return this.allocator.usedBlocks * this.blockSizeBytes;
  }

  /** Make every completed drive write and every record durable. */
  flush(): Promise<void> {
    return this.log.flush();
  }

  async close(): Promise<void> {
    try {
      await this.log.close();
    } finally {
      try {
        await this.drives.close();
      } finally {
        await this.lock.release();
      }
    }
  }
}
