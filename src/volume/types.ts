/**
 * What the node's storage offers to the layers above it (the control API, the NBD
 * export provider, later the backup engine): the contract between volume/ and node/.
 * See SPEC.md "What a storage system does" and "Volume management information (Fig. 7)".
 */
import type { BlockSet } from '../block/block-set.js';
import type { BlockDevice } from '../block/device.js';
import type { GrainMasks } from '../block/grain-masks.js';

/** Names of volumes, snapshots and bitmaps: 1-64 of [A-Za-z0-9._-], not starting with '.' or '-'. */
export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

export interface PoolInfo {
  name: string;
  blockSizeBytes: number;
  capacityBytes: number;
  usedBytes: number;
  freeBytes: number;
  /** What the (sparse) drive files take on disk. */
  diskBytes: number;
  drives: { path: string; sizeBytes: number }[];
}

/** SPEC Fig. 7: the volume management information. */
export interface VolumeInfo {
  name: string;
  /** Serial number of this node (the "device serial number"). */
  serial: string;
  /** Volume number within this node; never reused. */
  number: number;
  /** serial + volume number: `${serial}:${number}`. */
  uniqueId: string;
  /** The unique ID inherited from a restored source volume (SPEC S209-S210), or null. */
  inheritedUniqueId: string | null;
  pool: string;
  sizeBytes: number;
  /** Bytes of pool blocks this volume maps (shared snapshot blocks included). */
  usedBytes: number;
  createdAt: string;
  /** Host I/O stopped (SPEC "host access control"). */
  fenced: boolean;
  snapshots: string[];
  bitmaps: string[];
}

export interface SnapshotInfo {
  volume: string;
  name: string;
  sizeBytes: number;
  createdAt: string;
}

export interface BitmapInfo {
  volume: string;
  name: string;
  /** Active bitmaps record host writes; frozen ones (made by freeze) do not change. */
  active: boolean;
  /** Bits set (changed blocks). */
  dirtyBlocks: number;
  blockSizeBytes: number;
  /**
   * The unit of getBitmapGrainSet: the grain (4 KiB in 64 KiB blocks) where the volume
   * tracks grains, else blockSizeBytes.
   */
  grainBytes: number;
  /** Grains set (of grainBytes): what a failback of this bitmap copies. */
  dirtyGrains: number;
  createdAt: string;
}

/**
 * Where a volume's writes are also recorded while a copy pair is active (DESIGN.md
 * "Host I/O": "while a pair is active, appends to the journal"). volume/ knows only this
 * interface; replication/ implements it on a journal.
 *
 * Contract:
 * - The volume calls `write` or `zero` once it has applied the change, while it still
 *   holds the per-block locks of the request. For two requests touching the same block
 *   the calls therefore come in the order the volume applied them, and the sink MUST take
 *   its order from the call itself (synchronously: a seq assigned on the call), not from
 *   when its promise settles.
 * - `zero` carries what the volume did, not what was asked: a write-zeroes range as is,
 *   a trim as the whole blocks it unmapped (they now read as zeros); the part of a trim
 *   the volume ignored is not passed at all. A sink replaying the calls in order onto a
 *   copy of the volume makes it byte-identical.
 * - `write`'s buffer does not change until the promise settles (the request waits).
 * - `fua`: resolve once the record is durable. `flush()`: resolve once every record
 *   passed before the call is durable.
 * - A request is acknowledged only when both the volume and the sink are done. The sink
 *   SHOULD NOT reject: a journal in trouble must not fail host writes (the pair falls
 *   back to copying blocks again instead). If it does reject, the request rejects.
 */
export interface JournalSink {
  write(offset: number, data: Buffer, fua: boolean): Promise<void>;
  zero(offset: number, length: number, fua: boolean): Promise<void>;
  flush(): Promise<void>;
}

export interface Storage {
  /** The node's serial number, fixed at `rebound node init`. */
  readonly serial: string;
  /** The pool's block size: the unit of allocation, bitmaps and backups. */
  readonly blockSizeBytes: number;
  /** Bytes of the pool not in use (what the health check needs, without pool()'s stats). */
  readonly freeBytes: number;
  /** Capacity, use and what the drives take on disk (a stat of each drive file). */
  pool(): PoolInfo;

  listVolumes(): VolumeInfo[];
  /** Throws NOT_FOUND. */
  getVolume(name: string): VolumeInfo;
  /** Throws ALREADY_EXISTS, INVALID_ARGUMENT (name, size not a multiple of 512). */
  createVolume(name: string, sizeBytes: number): Promise<VolumeInfo>;
  /** Growing only; throws INVALID_ARGUMENT on a shrink. */
  growVolume(name: string, sizeBytes: number): Promise<VolumeInfo>;
  /**
   * Frees the volume's blocks (those no snapshot shares); throws BUSY while it has
   * snapshots or a journal attached.
   */
  deleteVolume(name: string): Promise<void>;
  setInheritedUniqueId(name: string, uniqueId: string | null): Promise<VolumeInfo>;

  /** Stop host I/O: resolves once no host request is in flight; later ones fail VOLUME_FENCED. */
  fence(name: string): Promise<void>;
  unfence(name: string): Promise<void>;

  /**
   * The volume as hosts see it: rejects with VOLUME_FENCED while fenced, and every write,
   * zero or trim marks the active update bitmaps (durably, before the data is written, so
   * after a crash a bitmap may over-report but never under-report).
   */
  hostDevice(name: string): BlockDevice;
  /** The volume for the node's own engines (restore, copy): ignores the fence, still marks bitmaps. */
  device(name: string): BlockDevice;

  /**
   * From now on every write, zero and trim of the volume (host and engine alike) is also
   * passed to `sink` (see JournalSink). Throws NOT_FOUND, BUSY when one is attached.
   */
  attachJournal(volume: string, sink: JournalSink): void;
  /**
   * Stop passing writes to the sink (a no-op when none is attached). A request that has
   * already passed its record keeps waiting for it; one that has not, is not journaled:
   * stop the writers first (fence) when every write must be in the journal.
   */
  detachJournal(volume: string): void;

  createSnapshot(volume: string, name: string): Promise<SnapshotInfo>;
  listSnapshots(volume: string): SnapshotInfo[];
  deleteSnapshot(volume: string, name: string): Promise<void>;
  /** A read-only device of the snapshot's contents. */
  snapshotDevice(volume: string, name: string): BlockDevice;

  createBitmap(volume: string, name: string): Promise<BitmapInfo>;
  listBitmaps(volume: string): BitmapInfo[];
  /**
   * SPEC "fix the bitmap": atomically move the contents of active bitmap `name` into a
   * frozen bitmap `into` (created, or replaced if frozen) and restart `name` empty.
   */
  freezeBitmap(volume: string, name: string, into: string): Promise<BitmapInfo>;
  /** dst |= src. */
  mergeBitmap(volume: string, src: string, dst: string): Promise<BitmapInfo>;
  clearBitmap(volume: string, name: string): Promise<BitmapInfo>;
  deleteBitmap(volume: string, name: string): Promise<void>;
  /** A copy of the bits; one bit per `blockSizeBytes` of the volume. */
  getBitmap(volume: string, name: string): BlockSet;
  /**
   * A copy of which grains of the bitmap's blocks changed, where known (a block with no
   * mask changed whole): what lets an incremental backup store 4 KiB of a 64 KiB block.
   */
  getBitmapGrains(volume: string, name: string): GrainMasks;
  /**
   * The bitmap at its grain (BitmapInfo.grainBytes): one bit per grain that changed, so
   * a failback copies and verifies 4 KiB where a host wrote 4 KiB of a 64 KiB block.
   */
  getBitmapGrainSet(volume: string, name: string): { set: BlockSet; unitBytes: number };
  /**
   * Mark byte ranges in every active bitmap of the volume, durable on return, ahead of
   * writes known to be coming; returns the blocks newly marked.
   */
  premarkBitmaps(volume: string, ranges: { offset: number; length: number }[]): Promise<number>;

  /**
   * SHA-256 of the given hash blocks of a volume, 32 bytes each, hashed off the main
   * thread; with `fromCopy`, blocks a delta copy read and hashed, unchanged since, are
   * answered from its hashes (hash-memo.ts), `fromCopy` of the answer counting them.
   */
  hashVolumeBlocks(
    volume: string,
    blocks: ArrayLike<number>,
    hashBlockBytes: number,
    options?: { fromCopy?: boolean },
  ): Promise<{ hashes: Buffer; fromCopy: number }>;

  /** Persist everything and close the drives. */
  close(): Promise<void>;
}
