/**
 * backup/: backups of volumes to object stores, and everything that reads them back
 * (SPEC "Backup settings", "Backup format" Fig. 11-14, "Restore" Fig. 17; DESIGN.md data
 * paths "Backup" and "Restore").
 *
 * Why: the backups are what a failover restores from (S105) and what failback method 3
 * travels through (S803-S806), so they must be exact, verifiable and restorable on any
 * node from the store alone. Each generation is data objects (blocks in address order,
 * compressed when that pays, optionally AES-256-GCM encrypted), a metadata object
 * (bitmap, object keys, per-block lengths and checksums) and a catalog written last as
 * the commit; incrementals and differentials chain to their parent by catalog. Formats:
 * docs/formats/backup.md.
 *
 * - writer.ts      backupVolume: snapshot + bitmaps -> data, metadata, catalog
 * - chain.ts       list generations, resolve chains, the restore plan
 * - image-device.ts a generation as a read-only BlockDevice (serve it over NBD)
 * - restore.ts     restoreGeneration: the copy engine from that device to a volume
 * - verify.ts      re-read and check every block, name what is damaged
 * - retention.ts   delete/merge generations, keep rules, protection, orphan cleanup
 * - format.ts, keys.ts, crypto.ts: the pure format
 */
export {
  type Generation,
  type LoadedGeneration,
  listGenerations,
  listLineages,
  type Plan,
  readCatalog,
  resolveChain,
} from './chain.js';
export { deriveKeys, KEY_BYTES } from './crypto.js';
export {
  type BackupMethod,
  type Catalog,
  type Compression,
  DEFAULT_COMPRESSION,
  decodeCatalog,
  decodeMetadata,
  encodeCatalog,
  encodeMetadata,
  FORMAT_VERSION,
  type Metadata,
  WRITER_CODECS,
} from './format.js';
export { BackupImageDevice, type ImageOptions } from './image-device.js';
export {
  generationKey,
  parseCatalogKey,
  protectedKey,
  toGenerationKey,
  uidSegment,
  volumePrefix,
} from './keys.js';
export { type RestoreOptions, type RestoreResult, restoreGeneration } from './restore.js';
export {
  applyRetention,
  type CleanupOptions,
  cleanupOrphans,
  type DeleteOptions,
  type DeleteResult,
  deleteGeneration,
  deleteGenerations,
  protectGeneration,
  type RetentionOptions,
  type RetentionResult,
  type RetentionRules,
  unprotectGeneration,
} from './retention.js';
export { type RevertOptions, type RevertResult, revertToGeneration } from './revert.js';
export {
  type VerifyOptions,
  type VerifyProblem,
  type VerifyReport,
  verifyGeneration,
  verifyStore,
} from './verify.js';
export {
  type BackupOptions,
  type BackupProgress,
  type BackupResult,
  backupBitmaps,
  backupVolume,
  storeTagOf,
} from './writer.js';
