/**
 * pool/: the storage pool (SPEC "Pool and drives"). Drives are sparse files cut into
 * fixed-size blocks (the patent's "block 60"); the allocator hands blocks to volumes on
 * first write and takes them back on trim and delete; the metadata log and checkpoint
 * keep the pool's state crash-safe (docs/formats/pool.md).
 *
 * Why a log: every metadata change (a block mapped, a bitmap bit set, a volume created)
 * is a small record appended in memory and made durable in batches (group commit), so
 * the data path never waits for a metadata fsync except where a promise requires it
 * (flush, FUA, the first write to a block after a bitmap freeze). Reference counts and
 * the free list are derived from the mappings at open, never persisted, so they cannot
 * disagree with them.
 */
export { Allocator } from './allocator.js';
export { ByteReader, ByteWriter } from './codec.js';
export { crc32c } from './crc32c.js';
export { Drives } from './drives.js';
export { fsyncDir, writeFileAtomic, writeFully } from './files.js';
export { type ApplyRecord, frameRecord, MetaLog, type MetaLogOptions } from './metalog.js';
export {
  DEFAULT_BLOCK_SIZE_BYTES,
  DEFAULT_DRIVE_SIZE_BYTES,
  Pool,
  type PoolInitOptions,
  type PoolOpenOptions,
  SERIAL_PATTERN,
} from './pool.js';
export type { DriveSpec, Superblock } from './superblock.js';
