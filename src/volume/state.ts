/**
 * The volume layer's in-memory state and the one function that changes it from a
 * record (`apply`). Replay at open and every control operation at run time go through
 * `apply`, so memory and what a replay rebuilds cannot drift apart. (The data path maps
 * blocks directly, for speed, and appends the same Map record.)
 */
import { BlockSet } from '../block/block-set.js';
import { GrainMasks } from '../block/grain-masks.js';
import { ReboundError } from '../errors.js';
import { ByteReader } from '../pool/index.js';
import { GrainHashMemo } from './hash-memo.js';
import { BlockLocks } from './locks.js';
import { MappingTable } from './mapping.js';
import { RecordType, rec } from './records.js';
import type { JournalSink } from './types.js';

export interface Bitmap {
  id: number;
  name: string;
  volume: Volume;
  active: boolean;
  set: BlockSet;
  /**
   * Which grains of the set's blocks changed, where known (block/grain-masks.ts). Run
   * time only: never in a record, so a replay (a restart) leaves every block whole, which
   * only ever backs up more. VolumeIo.markDirty keeps it; apply() keeps it consistent
   * through freeze, merge, clear and resize.
   */
  grains: GrainMasks;
  createdAt: string;
}

export interface Snapshot {
  objId: number;
  name: string;
  volume: Volume;
  sizeBytes: number;
  createdAt: string;
  table: MappingTable;
  deleted: boolean;
}

/** Run-time bookkeeping of a volume (not persisted). */
export class VolumeRuntime {
  readonly locks = new BlockLocks();
  /** Mutating requests in flight (writes, zeroes, trims). */
  mutating = 0;
  /** Host requests in flight (any kind), for fence. */
  host = 0;
  /** Set while a snapshot, freeze or delete waits for mutations to drain. */
  barrier: Promise<void> | null = null;
  /** Sequence number of the last bitmap mark record of this volume. */
  lastMarkSeq = 0;
  /** Where writes are also recorded while a pair is active (types.ts, JournalSink). */
  journal: JournalSink | null = null;
  /** Hashes of grains as a delta copy read them, for its verify (hash-memo.ts). */
  readonly copyHashes = new GrainHashMemo();
  private drainWaiters: (() => void)[] = [];

  /** Resolve when `count()` is zero. */
  drained(count: () => number): Promise<void> {
    if (count() === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (count() === 0) resolve();
        else this.drainWaiters.push(check);
      };
      this.drainWaiters.push(check);
    });
  }

  /** Called whenever a counter drops. */
  notify(): void {
    if (this.drainWaiters.length === 0) return;
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const f of w) f();
  }
}

export interface Volume {
  objId: number;
  number: number;
  name: string;
  sizeBytes: number;
  createdAt: string;
  fenced: boolean;
  inheritedUniqueId: string | null;
  table: MappingTable;
  snapshots: Map<string, Snapshot>;
  bitmaps: Map<string, Bitmap>;
  deleted: boolean;
  rt: VolumeRuntime;
}

export class State {
  readonly volumes = new Map<string, Volume>();
  readonly byNumber = new Map<number, Volume>();
  /** Every mapping table owner: volumes and snapshots, by object ID. */
  readonly objects = new Map<number, Volume | Snapshot>();
  readonly bitmaps = new Map<number, Bitmap>();
  nextVolume = 1;
  nextObject = 1;
  nextBitmap = 1;

  constructor(readonly blockSizeBytes: number) {}

  blocksOf(sizeBytes: number): number {
    return Math.ceil(sizeBytes / this.blockSizeBytes);
  }

  volume(number: number): Volume {
    const v = this.byNumber.get(number);
    if (!v) throw new ReboundError('POOL_CORRUPT', `record names unknown volume ${number}`);
    return v;
  }

  bitmap(id: number): Bitmap {
    const b = this.bitmaps.get(id);
    if (!b) throw new ReboundError('POOL_CORRUPT', `record names unknown bitmap ${id}`);
    return b;
  }

  table(objId: number): MappingTable {
    const o = this.objects.get(objId);
    if (!o) throw new ReboundError('POOL_CORRUPT', `record names unknown object ${objId}`);
    return o.table;
  }

  apply(type: number, payload: Buffer): void {
    const r = new ByteReader(payload);
    switch (type) {
      case RecordType.VolumeCreate: {
        const objId = r.u32();
        const number = r.u32();
        const sizeBytes = r.u64();
        const name = r.str();
        const createdAt = r.str();
        const v: Volume = {
          objId,
          number,
          name,
          sizeBytes,
          createdAt,
          fenced: false,
          inheritedUniqueId: null,
          table: new MappingTable(),
          snapshots: new Map(),
          bitmaps: new Map(),
          deleted: false,
          rt: new VolumeRuntime(),
        };
        this.volumes.set(name, v);
        this.byNumber.set(number, v);
        this.objects.set(objId, v);
        this.nextVolume = Math.max(this.nextVolume, number + 1);
        this.nextObject = Math.max(this.nextObject, objId + 1);
        return;
      }
      case RecordType.VolumeSet: {
        const v = this.volume(r.u32());
        const sizeBytes = r.u64();
        v.fenced = r.u8() === 1;
        const hasInherited = r.u8() === 1;
        const inherited = r.str();
        v.inheritedUniqueId = hasInherited ? inherited : null;
        if (sizeBytes !== v.sizeBytes) {
          v.sizeBytes = sizeBytes;
          for (const b of v.bitmaps.values()) {
            b.set.resize(this.blocksOf(sizeBytes));
            b.grains.clear(); // the edge block changed shape: whole is safe
          }
        }
        return;
      }
      case RecordType.VolumeDelete: {
        const v = this.volume(r.u32());
        v.deleted = true;
        this.volumes.delete(v.name);
        this.byNumber.delete(v.number);
        this.objects.delete(v.objId);
        for (const b of v.bitmaps.values()) this.bitmaps.delete(b.id);
        return;
      }
      case RecordType.SnapshotCreate: {
        const v = this.volume(r.u32());
        const objId = r.u32();
        const copy = r.u8() === 1;
        const sizeBytes = r.u64();
        const name = r.str();
        const createdAt = r.str();
        const s: Snapshot = {
          objId,
          name,
          volume: v,
          sizeBytes,
          createdAt,
          table: copy ? v.table.clone() : new MappingTable(),
          deleted: false,
        };
        v.snapshots.set(name, s);
        this.objects.set(objId, s);
        this.nextObject = Math.max(this.nextObject, objId + 1);
        return;
      }
      case RecordType.SnapshotDelete: {
        const objId = r.u32();
        const s = this.objects.get(objId);
        if (!s || !('volume' in s))
          throw new ReboundError('POOL_CORRUPT', `record names unknown snapshot ${objId}`);
        s.deleted = true;
        s.volume.snapshots.delete(s.name);
        this.objects.delete(objId);
        return;
      }
      case RecordType.Map: {
        const t = this.table(r.u32());
        const lba = r.u32();
        t.set(lba, r.u32());
        return;
      }
      case RecordType.MapList: {
        const t = this.table(r.u32());
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const lba = r.u32();
          t.set(lba, r.u32());
        }
        return;
      }
      case RecordType.MapRuns: {
        const t = this.table(r.u32());
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const lba = r.u32();
          const pbn = r.u32();
          const length = r.u32();
          for (let k = 0; k < length; k++) t.set(lba + k, pbn + k);
        }
        return;
      }
      case RecordType.MapOverlays: {
        const t = this.table(r.u32());
        const n = r.u32();
        for (let i = 0; i < n; i++) {
          const lba = r.u32();
          const pbn = r.u32();
          const base = r.u32();
          t.setOverlay(lba, pbn, base, r.u32());
        }
        return;
      }
      case RecordType.BitmapCreate: {
        const v = this.volume(r.u32());
        const id = r.u32();
        const active = r.u8() === 1;
        const name = r.str();
        const createdAt = r.str();
        const b: Bitmap = {
          id,
          name,
          volume: v,
          active,
          set: new BlockSet(this.blocksOf(v.sizeBytes)),
          grains: new GrainMasks(this.blockSizeBytes),
          createdAt,
        };
        v.bitmaps.set(name, b);
        this.bitmaps.set(id, b);
        this.nextBitmap = Math.max(this.nextBitmap, id + 1);
        return;
      }
      case RecordType.BitmapDelete: {
        const b = this.bitmap(r.u32());
        b.volume.bitmaps.delete(b.name);
        this.bitmaps.delete(b.id);
        return;
      }
      case RecordType.BitmapMark: {
        const v = this.volume(r.u32());
        markActive(v, r.u32(), r.u32());
        return;
      }
      case RecordType.BitmapMarkList: {
        const v = this.volume(r.u32());
        const n = r.u32();
        for (let i = 0; i < n; i++) markActive(v, r.u32(), r.u32());
        return;
      }
      case RecordType.BitmapFreeze: {
        const src = this.bitmap(r.u32());
        const intoId = r.u32();
        const intoName = r.str();
        const createdAt = r.str();
        const v = src.volume;
        const old = v.bitmaps.get(intoName);
        if (old) this.bitmaps.delete(old.id);
        const into: Bitmap = {
          id: intoId,
          name: intoName,
          volume: v,
          active: false,
          set: src.set,
          grains: src.grains,
          createdAt,
        };
        v.bitmaps.set(intoName, into);
        this.bitmaps.set(intoId, into);
        this.nextBitmap = Math.max(this.nextBitmap, intoId + 1);
        src.set = new BlockSet(this.blocksOf(v.sizeBytes));
        src.grains = new GrainMasks(this.blockSizeBytes);
        return;
      }
      case RecordType.BitmapMerge: {
        const src = this.bitmap(r.u32());
        const dst = this.bitmap(r.u32());
        dst.grains.union(
          src.grains,
          (b) => dst.set.has(b),
          (b) => src.set.has(b),
        );
        dst.set.union(src.set);
        return;
      }
      case RecordType.BitmapClear: {
        const b = this.bitmap(r.u32());
        b.set.clear();
        b.grains.clear();
        return;
      }
      case RecordType.BitmapData: {
        const b = this.bitmap(r.u32());
        const set = BlockSet.decode(r.blob());
        set.resize(this.blocksOf(b.volume.sizeBytes));
        b.set = set;
        b.grains.clear();
        return;
      }
      case RecordType.Counters:
        this.nextVolume = Math.max(this.nextVolume, r.u32());
        this.nextObject = Math.max(this.nextObject, r.u32());
        this.nextBitmap = Math.max(this.nextBitmap, r.u32());
        return;
      default:
        throw new ReboundError('POOL_CORRUPT', `unknown record type ${type}`);
    }
  }

  /** The whole state as records: the body of a checkpoint. */
  snapshotRecords(): Buffer[] {
    const out: Buffer[] = [rec.counters(this.nextVolume, this.nextObject, this.nextBitmap)];
    // A table's mappings: runs (consecutive blocks on consecutive pbns, as a restore or a
    // sequential write leaves them) as MapRuns, lone blocks as MapList. A restored 8 GiB
    // volume of 4 KiB blocks is then a few records instead of 16 MiB of pairs, which is
    // what a clean stop (and the next open) spends its time on.
    const mapList = (objId: number, t: MappingTable) => {
      const MAX = 16384;
      let pairs = new Uint32Array(MAX * 2);
      let np = 0;
      let runs = new Uint32Array(MAX * 3);
      let nr = 0;
      const flush = (lba: number, pbn: number, length: number) => {
        if (length === 1) {
          pairs[np * 2] = lba;
          pairs[np * 2 + 1] = pbn;
          if (++np === MAX) {
            out.push(rec.mapList(objId, pairs));
            pairs = new Uint32Array(MAX * 2);
            np = 0;
          }
          return;
        }
        runs[nr * 3] = lba;
        runs[nr * 3 + 1] = pbn;
        runs[nr * 3 + 2] = length;
        if (++nr === MAX) {
          out.push(rec.mapRuns(objId, runs));
          runs = new Uint32Array(MAX * 3);
          nr = 0;
        }
      };
      let runLba = -1;
      let runPbn = 0;
      let runLength = 0;
      t.each((lba, pbn) => {
        if (runLength > 0 && lba === runLba + runLength && pbn === runPbn + runLength) {
          runLength++;
          return;
        }
        if (runLength > 0) flush(runLba, runPbn, runLength);
        runLba = lba;
        runPbn = pbn;
        runLength = 1;
      });
      if (runLength > 0) flush(runLba, runPbn, runLength);
      if (np > 0) out.push(rec.mapList(objId, pairs.subarray(0, np * 2)));
      if (nr > 0) out.push(rec.mapRuns(objId, runs.subarray(0, nr * 3)));
      // Overlays after the plain mappings of their blocks (a plain mapping drops one).
      const quads: number[] = [];
      const flushQuads = () => {
        if (quads.length > 0) out.push(rec.mapOverlays(objId, Uint32Array.from(quads)));
        quads.length = 0;
      };
      t.eachOverlay((lba, pbn, o) => {
        quads.push(lba, pbn, o.base, o.mask);
        if (quads.length === MAX * 4) flushQuads();
      });
      flushQuads();
    };
    for (const v of this.volumes.values()) {
      out.push(rec.volumeCreate(v.objId, v.number, v.sizeBytes, v.name, v.createdAt));
      out.push(rec.volumeSet(v.number, v.sizeBytes, v.fenced, v.inheritedUniqueId));
      mapList(v.objId, v.table);
      for (const s of v.snapshots.values()) {
        out.push(rec.snapshotCreate(v.number, s.objId, false, s.sizeBytes, s.name, s.createdAt));
        mapList(s.objId, s.table);
      }
      for (const b of v.bitmaps.values()) {
        out.push(rec.bitmapCreate(v.number, b.id, b.active, b.name, b.createdAt));
        out.push(rec.bitmapData(b.id, b.set.encode()));
      }
    }
    return out;
  }
}

/** BitmapMark's replay: blocks [start, start + count) set in every active bitmap of `v`, whole. */
function markActive(v: Volume, start: number, count: number): void {
  for (const b of v.bitmaps.values()) {
    if (!b.active) continue;
    const end = Math.min(start + count, b.set.sizeBlocks);
    if (end > start) {
      b.set.addRange(start, end - start);
      b.grains.markWhole(start, end - start);
    }
  }
}
