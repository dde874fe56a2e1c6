/**
 * volume/: thin volumes, snapshots, named update bitmaps and the host I/O fence, on a
 * pool (SPEC "What a storage system does", items 2 to 5; DESIGN.md "volume/").
 *
 * A volume is a mapping table (volume block -> pool block) that gets a pool block on
 * its first write; a snapshot is a copy of the table sharing every block (copy on
 * write); an update bitmap is a block set every write marks, durably before the data
 * lands, so after a crash it may over-report but never under-report. `NodeStorage`
 * implements the `Storage` contract in types.ts that the node daemon and NBD exports
 * use: `NodeStorage.init(dir, options)` creates a pool, `NodeStorage.open(dir)` opens it.
 */
// Memory a volume's writes can take past the page cache (WriteOptions.direct).
export { alignedBuffer } from '../pool/aligned-memory.js';
export { SnapshotDevice, VolumeDevice } from './device.js';
export { NodeStorage, type StorageInitOptions, type StorageOpenOptions } from './storage.js';
export {
  type BitmapInfo,
  type JournalSink,
  NAME_PATTERN,
  type PoolInfo,
  type SnapshotInfo,
  type Storage,
  type VolumeInfo,
} from './types.js';
