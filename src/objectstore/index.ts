/**
 * objectstore/: where backups live. One interface, `ObjectStore` (types.ts, with its
 * contract in MUST words), and its implementations: a local directory, the embedded
 * default, and S3 through the AWS SDK v3 (any endpoint). The backup engine writes data
 * objects, metadata and catalogs through it and relies on three things whatever the
 * store: keys are written once and never overwritten, a put is all-or-nothing, and a
 * missing object is an error naming the key. Every implementation runs one conformance
 * suite (test/helpers/objectstore-conformance.ts).
 *
 * Nothing here imports anything above it (DESIGN.md, "Folders").
 */
import { DirectoryStore } from './directory-store.js';
import type { ObjectStore } from './types.js';

export { DirectoryStore, type DirectoryStoreOptions } from './directory-store.js';
export { checkKey, checkPrefix, MAX_KEY_BYTES } from './keys.js';
export type { ObjectInfo, ObjectStore } from './types.js';

/** A store as a registration describes it. */
export type StoreConfig = { kind: 'directory'; path: string; maxConcurrency?: number };

/** Build the store a config describes. */
export async function openStore(config: StoreConfig): Promise<ObjectStore> {
  switch (config.kind) {
    case 'directory':
      return new DirectoryStore(config.path, { maxConcurrency: config.maxConcurrency });
  }
}
