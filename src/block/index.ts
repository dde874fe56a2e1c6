/**
 * block/: the BlockDevice interface every holder of blocks implements, the block set
 * (update bitmaps) and, later, the copy engine. Nothing here imports anything above it
 * (DESIGN.md, "Folders"): pool, volumes, NBD and backups all build on this folder.
 */
export { BlockSet, type Run } from './block-set.js';
export type { BlockDevice, Extent, WriteOptions, ZeroOptions } from './device.js';
export { MemoryDevice } from './memory-device.js';
export { checkRange } from './range.js';
