/**
 * block/: the BlockDevice interface every holder of blocks implements, the block set
 * (update bitmaps), the copy engine (copy-engine.ts) and block hashes (hash.ts: prove two
 * devices identical by exchanging only hashes). Nothing here imports anything above it
 * (DESIGN.md, "Folders"): pool, volumes, NBD and backups all build on this folder.
 */
export { BlockSet, type Run } from './block-set.js';
export {
  type CopyOptions,
  type CopyProgress,
  type CopyResult,
  copyBlocks,
  isZeroBuffer,
} from './copy-engine.js';
export type {
  BlockDevice,
  ByteRange,
  Extent,
  ReadDataOptions,
  WriteOptions,
  ZeroOptions,
} from './device.js';
export { SCATTERED_FLUSH_BYTES } from './flush-along.js';
export { GrainMasks, grainBytesOf, grainSet, popcount32, regrid } from './grain-masks.js';
export { diffHashes, HASH_BYTES } from './hash.js';
export { MemoryDevice } from './memory-device.js';
export { pacer } from './pacer.js';
export { checkRange } from './range.js';
export { ReadOnlyDevice } from './read-only-device.js';
