/**
 * NodeStorage: the node's storage (the `Storage` contract of types.ts) on one pool.
 *
 * Control operations build a record, apply it to memory with the same `State.apply`
 * that replay uses, append it to the metadata log and resolve once it is durable.
 * Snapshot, freeze, clear and delete first drain the volume's in-flight writes (a
 * barrier), so a snapshot or a frozen bitmap never catches half a write.
 */
import type { BlockSet } from '../block/block-set.js';
import type { BlockDevice } from '../block/device.js';
import { type GrainMasks, grainBytesOf, grainSet, popcount32 } from '../block/grain-masks.js';
import { HASH_BYTES } from '../block/hash.js';
import { ReboundError } from '../errors.js';
import { Pool, type PoolInitOptions, type PoolOpenOptions } from '../pool/index.js';
import { SnapshotDevice, VolumeDevice } from './device.js';
import { VolumeIo } from './io.js';
import { planHashes } from './read-plan.js';
import { ReadWorkers } from './read-workers.js';
import { rec } from './records.js';
import { type Bitmap, type Snapshot, State, type Volume } from './state.js';
import {
  type BitmapInfo,
  type JournalSink,
  NAME_PATTERN,
  type PoolInfo,
  type SnapshotInfo,
  type Storage,
  type VolumeInfo,
} from './types.js';

/** Grain sets are made up to this many bits (32 MiB: volumes up to 1 TiB at 4 KiB grains). */
const MAX_GRAIN_SET_BITS = 2 ** 28;

/** How long close() waits for requests in flight before closing the drives anyway. */
const CLOSE_DRAIN_MS = 10_000;

/** Volume blocks are addressed with u32 in the records: at most 2^32 - 1 blocks per volume. */
const MAX_VOLUME_BLOCKS = 2 ** 32 - 1;

export type StorageInitOptions = PoolInitOptions;
export type StorageOpenOptions = PoolOpenOptions;

function checkName(what: string, name: string): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new ReboundError('INVALID_ARGUMENT', `${what} name ${JSON.stringify(name)} is not valid`, {
      detail: { field: 'name' },
    });
  }
}

export class NodeStorage implements Storage {
  private readonly io: VolumeIo;
  private readonly readers = new ReadWorkers();
  private closed = false;

  private constructor(
    private readonly poolRef: Pool,
    private readonly state: State,
  ) {
    this.io = new VolumeIo(poolRef, this.readers);
  }

  /** Create a new pool and storage in `dir` (throws ALREADY_EXISTS when there is one). */
  static async init(
    dir: string,
    options: StorageInitOptions = {},
    open?: StorageOpenOptions,
  ): Promise<NodeStorage> {
    await Pool.init(dir, options);
    return NodeStorage.open(dir, open);
  }

  /** Open the storage in `dir` (throws POOL_NOT_INITIALISED when there is none). */
  static async open(dir: string, options: StorageOpenOptions = {}): Promise<NodeStorage> {
    let st!: State;
    const pool = await Pool.open(
      dir,
      (sb) => {
        st = new State(sb.blockSizeBytes);
        return (type, payload) => st.apply(type, payload);
      },
      options,
    );
    try {
      // Reference counts come from the mappings; nothing else says a block is in use.
      for (const o of st.objects.values()) o.table.eachRef((pbn) => pool.allocator.addRef(pbn));
      pool.log.setSnapshotter(() => st.snapshotRecords());
      await pool.log.checkpoint(); // compacts, and starts a clean log after any torn tail
    } catch (err) {
      await pool.close().catch(() => {});
      throw err;
    }
    const storage = new NodeStorage(pool, st);
    // Overlays whose snapshot went while the node was down (or mid-fold) fold now.
    for (const v of st.volumes.values()) storage.foldOverlays(v);
    return storage;
  }

  get serial(): string {
    return this.poolRef.serial;
  }

  get blockSizeBytes(): number {
    return this.poolRef.blockSizeBytes;
  }

  get freeBytes(): number {
    return this.poolRef.capacityBytes - this.poolRef.usedBytes;
  }

  /** The pool underneath (for diagnostics and tests). */
  get rawPool(): Pool {
    return this.poolRef;
  }

  pool(): PoolInfo {
    const p = this.poolRef;
    return {
      name: p.name,
      blockSizeBytes: p.blockSizeBytes,
      capacityBytes: p.capacityBytes,
      usedBytes: p.usedBytes,
      freeBytes: this.freeBytes,
      diskBytes: p.drives.diskBytes,
      drives: p.drives.specs,
    };
  }

  private open(): void {
    if (this.closed) throw new ReboundError('SHUTTING_DOWN', 'the storage is closed');
  }

  private vol(name: string): Volume {
    const v = this.state.volumes.get(name);
    if (!v) throw new ReboundError('NOT_FOUND', `volume ${name} not found`, { detail: { volume: name } });
    return v;
  }

  private info(v: Volume): VolumeInfo {
    return {
      name: v.name,
      serial: this.serial,
      number: v.number,
      uniqueId: `${this.serial}:${v.number}`,
      inheritedUniqueId: v.inheritedUniqueId,
      pool: this.poolRef.name,
      sizeBytes: v.sizeBytes,
      usedBytes: v.table.mapped * this.blockSizeBytes,
      createdAt: v.createdAt,
      fenced: v.fenced,
      snapshots: [...v.snapshots.keys()],
      bitmaps: [...v.bitmaps.keys()],
    };
  }

  /** Apply a control record to memory and the log; resolve once it is durable. */
  private async control(record: Buffer): Promise<number> {
    this.open();
    this.state.apply(record[6], record.subarray(12));
    const seq = this.poolRef.log.append(record);
    await this.poolRef.log.commit(seq);
    return seq;
  }

  /** Block new mutations of `v`, wait for those in flight, run `fn`, lift the barrier. */
  private async quiesce<T>(v: Volume, fn: () => Promise<T> | T): Promise<T> {
    while (v.rt.barrier) await v.rt.barrier;
    let lift!: () => void;
    v.rt.barrier = new Promise((r) => {
      lift = r;
    });
    try {
      await v.rt.drained(() => v.rt.mutating);
      return await fn();
    } finally {
      v.rt.barrier = null;
      lift();
    }
  }

  private checkSize(sizeBytes: number): void {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % 512 !== 0) {
      throw new ReboundError('INVALID_ARGUMENT', `size ${sizeBytes} is not a positive multiple of 512`, {
        detail: { field: 'sizeBytes' },
      });
    }
    if (Math.ceil(sizeBytes / this.blockSizeBytes) > MAX_VOLUME_BLOCKS) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `size ${sizeBytes} is more than ${MAX_VOLUME_BLOCKS} blocks`,
        {
          detail: { field: 'sizeBytes' },
        },
      );
    }
  }

  listVolumes(): VolumeInfo[] {
    return [...this.state.volumes.values()].sort((a, b) => a.number - b.number).map((v) => this.info(v));
  }

  getVolume(name: string): VolumeInfo {
    return this.info(this.vol(name));
  }

  async createVolume(name: string, sizeBytes: number): Promise<VolumeInfo> {
    checkName('volume', name);
    this.checkSize(sizeBytes);
    if (this.state.volumes.has(name))
      throw new ReboundError('ALREADY_EXISTS', `volume ${name} already exists`);
    const s = this.state;
    await this.control(
      rec.volumeCreate(s.nextObject, s.nextVolume, sizeBytes, name, new Date().toISOString()),
    );
    return this.info(this.vol(name));
  }

  async growVolume(name: string, sizeBytes: number): Promise<VolumeInfo> {
    const v = this.vol(name);
    this.checkSize(sizeBytes);
    if (sizeBytes < v.sizeBytes) {
      throw new ReboundError(
        'INVALID_ARGUMENT',
        `cannot shrink volume ${name} from ${v.sizeBytes} to ${sizeBytes}`,
        {
          detail: { field: 'sizeBytes' },
        },
      );
    }
    if (sizeBytes > v.sizeBytes)
      await this.control(rec.volumeSet(v.number, sizeBytes, v.fenced, v.inheritedUniqueId));
    return this.info(v);
  }

  async deleteVolume(name: string): Promise<void> {
    const v = this.vol(name);
    if (v.snapshots.size > 0) {
      throw new ReboundError('BUSY', `volume ${name} has snapshots: ${[...v.snapshots.keys()].join(', ')}`);
    }
    if (v.rt.journal) {
      throw new ReboundError(
        'BUSY',
        `volume ${name} has a copy pair journaling its writes; delete the pair first`,
      );
    }
    await this.quiesce(v, async () => {
      if (v.deleted) return;
      const table = v.table;
      const record = rec.volumeDelete(v.number);
      this.state.apply(record[6], record.subarray(12));
      const seq = this.poolRef.log.append(record);
      table.eachRef((pbn) => this.poolRef.allocator.unref(pbn, seq));
      v.rt.copyHashes.clear(); // the node's budget for them goes back
      await this.poolRef.log.commit(seq);
    });
  }

  async setInheritedUniqueId(name: string, uniqueId: string | null): Promise<VolumeInfo> {
    const v = this.vol(name);
    if (
      uniqueId !== null &&
      (typeof uniqueId !== 'string' || uniqueId.length === 0 || uniqueId.length > 200)
    ) {
      throw new ReboundError('INVALID_ARGUMENT', 'unique ID must be a non-empty string or null', {
        detail: { field: 'uniqueId' },
      });
    }
    await this.control(rec.volumeSet(v.number, v.sizeBytes, v.fenced, uniqueId));
    return this.info(v);
  }

  async fence(name: string): Promise<void> {
    const v = this.vol(name);
    v.fenced = true; // new host requests are refused from now on
    await v.rt.drained(() => v.rt.host);
    await this.control(rec.volumeSet(v.number, v.sizeBytes, true, v.inheritedUniqueId));
  }

  async unfence(name: string): Promise<void> {
    const v = this.vol(name);
    await this.control(rec.volumeSet(v.number, v.sizeBytes, false, v.inheritedUniqueId));
  }

  hostDevice(name: string): BlockDevice {
    return new VolumeDevice(this.io, this.vol(name), 'host');
  }

  device(name: string): BlockDevice {
    return new VolumeDevice(this.io, this.vol(name), 'engine');
  }

  attachJournal(volume: string, sink: JournalSink): void {
    const v = this.vol(volume);
    if (v.rt.journal && v.rt.journal !== sink) {
      throw new ReboundError('BUSY', `volume ${volume} already has a journal attached (another pair)`);
    }
    v.rt.journal = sink;
  }

  detachJournal(volume: string): void {
    const v = this.state.volumes.get(volume);
    if (v) v.rt.journal = null;
  }

  private snapInfo(s: Snapshot): SnapshotInfo {
    return { volume: s.volume.name, name: s.name, sizeBytes: s.sizeBytes, createdAt: s.createdAt };
  }

  private snap(volume: string, name: string): Snapshot {
    const s = this.vol(volume).snapshots.get(name);
    if (!s) throw new ReboundError('NOT_FOUND', `snapshot ${volume}/${name} not found`);
    return s;
  }

  async createSnapshot(volume: string, name: string): Promise<SnapshotInfo> {
    checkName('snapshot', name);
    const v = this.vol(volume);
    if (v.snapshots.has(name))
      throw new ReboundError('ALREADY_EXISTS', `snapshot ${volume}/${name} already exists`);
    const objId = this.state.nextObject;
    await this.quiesce(v, async () => {
      if (v.snapshots.has(name))
        throw new ReboundError('ALREADY_EXISTS', `snapshot ${volume}/${name} already exists`);
      const record = rec.snapshotCreate(v.number, objId, true, v.sizeBytes, name, new Date().toISOString());
      this.open();
      this.state.apply(record[6], record.subarray(12));
      // Copy-on-write: the snapshot shares every block; the next write to one copies it
      // (a write of part of it, only the grains it touches: an overlay, io.ts).
      v.table.eachRef((pbn) => this.poolRef.allocator.share(pbn));
      await this.poolRef.log.commit(this.poolRef.log.append(record));
    });
    return this.snapInfo(this.snap(volume, name));
  }

  listSnapshots(volume: string): SnapshotInfo[] {
    return [...this.vol(volume).snapshots.values()].map((s) => this.snapInfo(s));
  }

  async deleteSnapshot(volume: string, name: string): Promise<void> {
    const s = this.snap(volume, name);
    this.open();
    const record = rec.snapshotDelete(s.objId);
    this.state.apply(record[6], record.subarray(12));
    const seq = this.poolRef.log.append(record);
    s.table.eachRef((pbn) => this.poolRef.allocator.unref(pbn, seq));
    await this.poolRef.log.commit(seq);
    this.foldOverlays(s.volume);
  }

  /**
   * In the background, fold the volume's overlays whose base nobody else holds any more
   * back into plain blocks (VolumeIo.foldOverlays): after a snapshot is deleted, and at
   * open. Best effort: a failure leaves overlays, which read the same (foldStats).
   */
  private foldOverlays(v: Volume): void {
    if (v.table.overlayCount === 0) return;
    this.folding = this.folding.then(async () => {
      if (this.closed || v.deleted) return;
      try {
        this.foldStats.folded += await this.io.foldOverlays(v, () => this.closed);
      } catch (err) {
        // A volume deleted or a node stopping under a fold is no failure of it.
        if (!v.deleted && !this.closed) this.foldStats.lastError = (err as Error).message;
      }
    });
  }

  private folding: Promise<void> = Promise.resolve();
  /** Overlays folded, and the last failure of a fold (tests, diagnostics). */
  readonly foldStats = { folded: 0, lastError: null as string | null };

  /** Resolves once the overlay folds started so far have ended. */
  whenFolded(): Promise<void> {
    return this.folding;
  }

  snapshotDevice(volume: string, name: string): BlockDevice {
    return new SnapshotDevice(this.io, this.snap(volume, name));
  }

  private bm(volume: string, name: string): Bitmap {
    const b = this.vol(volume).bitmaps.get(name);
    if (!b) throw new ReboundError('NOT_FOUND', `bitmap ${volume}/${name} not found`);
    return b;
  }

  private bmInfo(b: Bitmap): BitmapInfo {
    return {
      volume: b.volume.name,
      name: b.name,
      active: b.active,
      dirtyBlocks: b.set.count(),
      blockSizeBytes: this.blockSizeBytes,
      grainBytes: this.grainUnit(b.volume),
      dirtyGrains: this.grainCount(b),
      createdAt: b.createdAt,
    };
  }

  async createBitmap(volume: string, name: string): Promise<BitmapInfo> {
    checkName('bitmap', name);
    const v = this.vol(volume);
    if (v.bitmaps.has(name))
      throw new ReboundError('ALREADY_EXISTS', `bitmap ${volume}/${name} already exists`);
    await this.control(
      rec.bitmapCreate(v.number, this.state.nextBitmap, true, name, new Date().toISOString()),
    );
    return this.bmInfo(this.bm(volume, name));
  }

  listBitmaps(volume: string): BitmapInfo[] {
    return [...this.vol(volume).bitmaps.values()].map((b) => this.bmInfo(b));
  }

  async freezeBitmap(volume: string, name: string, into: string): Promise<BitmapInfo> {
    checkName('bitmap', into);
    const v = this.vol(volume);
    const check = () => {
      const src = this.bm(volume, name);
      if (!src.active)
        throw new ReboundError('INVALID_ARGUMENT', `bitmap ${volume}/${name} is frozen, not active`);
      if (into === name) throw new ReboundError('INVALID_ARGUMENT', 'cannot freeze a bitmap into itself');
      const old = v.bitmaps.get(into);
      if (old?.active) {
        throw new ReboundError(
          'INVALID_ARGUMENT',
          `bitmap ${volume}/${into} is active; only a frozen one is replaced`,
        );
      }
      return src;
    };
    check();
    await this.quiesce(v, () => {
      const src = check();
      return this.control(rec.bitmapFreeze(src.id, this.state.nextBitmap, into, new Date().toISOString()));
    });
    return this.bmInfo(this.bm(volume, into));
  }

  async mergeBitmap(volume: string, src: string, dst: string): Promise<BitmapInfo> {
    const s = this.bm(volume, src);
    const d = this.bm(volume, dst);
    await this.control(rec.bitmapMerge(s.id, d.id));
    return this.bmInfo(d);
  }

  async clearBitmap(volume: string, name: string): Promise<BitmapInfo> {
    const v = this.vol(volume);
    this.bm(volume, name);
    await this.quiesce(v, () => this.control(rec.bitmapClear(this.bm(volume, name).id)));
    return this.bmInfo(this.bm(volume, name));
  }

  async deleteBitmap(volume: string, name: string): Promise<void> {
    await this.control(rec.bitmapDelete(this.bm(volume, name).id));
  }

  /**
   * Mark byte ranges in every active bitmap of the volume, durably, before writes to them
   * arrive (VolumeIo.premark). Returns the blocks newly marked.
   */
  async premarkBitmaps(volume: string, ranges: { offset: number; length: number }[]): Promise<number> {
    const v = this.vol(volume);
    for (const r of ranges)
      if (r.offset < 0 || r.length < 0 || r.offset + r.length > v.sizeBytes)
        throw new ReboundError(
          'OUT_OF_RANGE',
          `bytes ${r.offset}+${r.length} run past the end of ${volume} (${v.sizeBytes} bytes)`,
        );
    return this.io.premark(v, ranges);
  }

  /**
   * Start the read and write workers now instead of at the first hash, batch read or
   * turn of small writes (they do not keep the process alive).
   */
  startWorkers(): void {
    this.readers.start();
    this.poolRef.drives.startWriters();
  }

  /**
   * SHA-256 of hash blocks `blocks` (numbers, in units of `hashBlockBytes`) of a volume,
   * 32 bytes each in the order given, read and hashed in a worker thread (read-workers.ts).
   * With `fromCopy`, a block a delta copy read and hashed, unchanged since, is answered
   * with that hash instead (hash-memo.ts); `fromCopy` of the answer counts them.
   */
  async hashVolumeBlocks(
    volume: string,
    blocks: ArrayLike<number>,
    hashBlockBytes: number,
    options: { fromCopy?: boolean } = {},
  ): Promise<{ hashes: Buffer; fromCopy: number }> {
    const v = this.vol(volume);
    const total = Math.ceil(v.sizeBytes / hashBlockBytes);
    for (let i = 0; i < blocks.length; i++)
      if (!(blocks[i] >= 0 && blocks[i] < total))
        throw new ReboundError(
          'OUT_OF_RANGE',
          `hash block ${blocks[i]} is past the end of ${volume} (${total} blocks of ${hashBlockBytes} bytes)`,
        );
    if (blocks.length === 0) return { hashes: Buffer.alloc(0), fromCopy: 0 };
    const out = Buffer.allocUnsafe(blocks.length * HASH_BYTES);
    let rest: ArrayLike<number> = blocks; // the blocks to read and hash
    let restAt: number[] | null = null; // their places in `out`, when not all of them
    if (options.fromCopy && hashBlockBytes === this.io.hashUnitBytes) {
      const misses: number[] = [];
      restAt = [];
      for (let i = 0; i < blocks.length; i++) {
        if (!this.io.takeCopyHash(v, blocks[i], out, i * HASH_BYTES)) {
          misses.push(blocks[i]);
          restAt.push(i);
        }
      }
      rest = misses;
    }
    const fromCopy = blocks.length - rest.length;
    if (rest.length === 0) return { hashes: out, fromCopy };
    const alloc = this.poolRef.allocator;
    const epoch = alloc.beginIo(); // no block planned here is reused before the worker has read it
    try {
      const read = await this.readers.hash(
        planHashes(this.poolRef, v.table, v.sizeBytes, rest, hashBlockBytes),
      );
      if (restAt === null) return { hashes: read, fromCopy };
      for (let k = 0; k < restAt.length; k++)
        read.copy(out, restAt[k] * HASH_BYTES, k * HASH_BYTES, (k + 1) * HASH_BYTES);
      return { hashes: out, fromCopy };
    } finally {
      alloc.endIo(epoch);
    }
  }

  getBitmap(volume: string, name: string): BlockSet {
    return this.bm(volume, name).set.clone();
  }

  getBitmapGrains(volume: string, name: string): GrainMasks {
    return this.bm(volume, name).grains.clone();
  }

  getBitmapGrainSet(volume: string, name: string): { set: BlockSet; unitBytes: number } {
    const b = this.bm(volume, name);
    const unitBytes = this.grainUnit(b.volume);
    if (unitBytes === this.blockSizeBytes) return { set: b.set.clone(), unitBytes };
    return { set: grainSet(b.set, b.grains, b.volume.sizeBytes), unitBytes };
  }

  /** Grains set in a bitmap, in grainUnit. */
  private grainCount(b: Bitmap): number {
    const per = this.blockSizeBytes / this.grainUnit(b.volume);
    let n = b.set.count() * per;
    if (per > 1)
      for (const [blk, mask] of b.grains.entries()) if (b.set.has(blk)) n -= per - popcount32(mask);
    return n;
  }

  /** The unit of grain sets: the grain, unless the volume has none or a grain set would be too big. */
  private grainUnit(v: Volume): number {
    const grain = grainBytesOf(this.blockSizeBytes);
    return grain > 0 && Math.ceil(v.sizeBytes / grain) <= MAX_GRAIN_SET_BITS ? grain : this.blockSizeBytes;
  }

  /** Checkpoint everything and close the drives. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.folding; // a fold stops at its next block once closed
    // Requests already running (the NBD server stops taking new ones first) finish
    // before the last checkpoint, so none of them writes into a closed drive or log.
    const deadline = Date.now() + CLOSE_DRAIN_MS;
    while (this.poolRef.allocator.ioInFlight > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    try {
      await this.readers.close();
      await this.poolRef.log.checkpoint();
    } finally {
      await this.poolRef.close();
    }
  }
}
