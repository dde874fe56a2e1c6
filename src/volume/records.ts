/**
 * The volume layer's metadata records (docs/formats/pool.md, "Record types"). Each
 * function returns a framed record ready for MetaLog.append; `State.apply` reads them.
 */
import { ByteWriter, frameRecord } from '../pool/index.js';

export const RecordType = {
  VolumeCreate: 1,
  VolumeSet: 2,
  VolumeDelete: 3,
  SnapshotCreate: 4,
  SnapshotDelete: 5,
  Map: 6,
  MapList: 7,
  BitmapCreate: 8,
  BitmapDelete: 9,
  BitmapMark: 10,
  BitmapFreeze: 11,
  BitmapMerge: 12,
  BitmapClear: 13,
  BitmapData: 14,
  Counters: 15,
  MapRuns: 16,
  MapOverlays: 17,
  BitmapMarkList: 18,
} as const;

export const rec = {
  volumeCreate(objId: number, number: number, sizeBytes: number, name: string, createdAt: string): Buffer {
    const w = new ByteWriter().u32(objId).u32(number).u64(sizeBytes).str(name).str(createdAt);
    return frameRecord(RecordType.VolumeCreate, w.finish());
  },
  volumeSet(number: number, sizeBytes: number, fenced: boolean, inherited: string | null): Buffer {
    const w = new ByteWriter()
      .u32(number)
      .u64(sizeBytes)
      .u8(fenced ? 1 : 0);
    w.u8(inherited === null ? 0 : 1).str(inherited ?? '');
    return frameRecord(RecordType.VolumeSet, w.finish());
  },
  volumeDelete(number: number): Buffer {
    return frameRecord(RecordType.VolumeDelete, new ByteWriter().u32(number).finish());
  },
  snapshotCreate(
    volume: number,
    objId: number,
    copy: boolean,
    sizeBytes: number,
    name: string,
    createdAt: string,
  ): Buffer {
    const w = new ByteWriter()
      .u32(volume)
      .u32(objId)
      .u8(copy ? 1 : 0)
      .u64(sizeBytes)
      .str(name)
      .str(createdAt);
    return frameRecord(RecordType.SnapshotCreate, w.finish());
  },
  snapshotDelete(objId: number): Buffer {
    return frameRecord(RecordType.SnapshotDelete, new ByteWriter().u32(objId).finish());
  },
  map(objId: number, lba: number, pbn: number): Buffer {
    return frameRecord(RecordType.Map, new ByteWriter(12).u32(objId).u32(lba).u32(pbn).finish());
  },
  mapList(objId: number, pairs: Uint32Array): Buffer {
    const w = new ByteWriter(8 + pairs.length * 4).u32(objId).u32(pairs.length / 2);
    for (let i = 0; i < pairs.length; i++) w.u32(pairs[i]);
    return frameRecord(RecordType.MapList, w.finish());
  },
  /** Runs of consecutive blocks mapped to consecutive pbns: [lba, pbn, length] triples (checkpoint). */
  mapRuns(objId: number, triples: Uint32Array): Buffer {
    const w = new ByteWriter(8 + triples.length * 4).u32(objId).u32(triples.length / 3);
    for (let i = 0; i < triples.length; i++) w.u32(triples[i]);
    return frameRecord(RecordType.MapRuns, w.finish());
  },
  /**
   * Overlays (copy-on-write at the grain): [lba, pbn, base, mask] quadruples; block lba maps
   * pbn, which holds the grains of mask, and base the rest (a write, or a checkpoint).
   */
  mapOverlays(objId: number, quads: Uint32Array): Buffer {
    const w = new ByteWriter(8 + quads.length * 4).u32(objId).u32(quads.length / 4);
    for (let i = 0; i < quads.length; i++) w.u32(quads[i]);
    return frameRecord(RecordType.MapOverlays, w.finish());
  },
  bitmapCreate(volume: number, id: number, active: boolean, name: string, createdAt: string): Buffer {
    const w = new ByteWriter()
      .u32(volume)
      .u32(id)
      .u8(active ? 1 : 0)
      .str(name)
      .str(createdAt);
    return frameRecord(RecordType.BitmapCreate, w.finish());
  },
  bitmapDelete(id: number): Buffer {
    return frameRecord(RecordType.BitmapDelete, new ByteWriter().u32(id).finish());
  },
  bitmapMark(volume: number, start: number, count: number): Buffer {
    return frameRecord(RecordType.BitmapMark, new ByteWriter(12).u32(volume).u32(start).u32(count).finish());
  },
  /**
   * Many BitmapMarks of one volume in one record: [first block, block count] pairs. A
   * failback's premark of 20,000 scattered blocks is then some 80 records, not 20,000
   * (each a framed, checksummed buffer of its own).
   */
  bitmapMarkList(volume: number, pairs: Uint32Array): Buffer {
    const w = new ByteWriter(8 + pairs.length * 4).u32(volume).u32(pairs.length / 2);
    for (let i = 0; i < pairs.length; i++) w.u32(pairs[i]);
    return frameRecord(RecordType.BitmapMarkList, w.finish());
  },
  bitmapFreeze(src: number, into: number, intoName: string, createdAt: string): Buffer {
    const w = new ByteWriter().u32(src).u32(into).str(intoName).str(createdAt);
    return frameRecord(RecordType.BitmapFreeze, w.finish());
  },
  bitmapMerge(src: number, dst: number): Buffer {
    return frameRecord(RecordType.BitmapMerge, new ByteWriter().u32(src).u32(dst).finish());
  },
  bitmapClear(id: number): Buffer {
    return frameRecord(RecordType.BitmapClear, new ByteWriter().u32(id).finish());
  },
  bitmapData(id: number, encoded: Buffer): Buffer {
    return frameRecord(
      RecordType.BitmapData,
      new ByteWriter(8 + encoded.length).u32(id).blob(encoded).finish(),
    );
  },
  counters(nextVolume: number, nextObject: number, nextBitmap: number): Buffer {
    const w = new ByteWriter().u32(nextVolume).u32(nextObject).u32(nextBitmap);
    return frameRecord(RecordType.Counters, w.finish());
  },
};
